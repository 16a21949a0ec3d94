package media

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/metrics"
	"github.com/veil-media/veil/models"
)

// purgeTarget is what a purge needs of one item.
type purgeTarget struct {
	serve, direct []string // serve-view URLs; direct storage/CDN URLs
	collection    string
	privacy       models.Privacy
}

// PurgeURLs lists every URL under which a CDN may hold a file of the items: first the serve views
// (original or document, and every rendition's signed URL and preset URL), then the direct storage
// URLs of the same files. Items that no longer exist are skipped.
func (s *Service) PurgeURLs(ctx context.Context, ids []string) (map[string][]string, error) {
	targets, err := s.purgeTargets(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for id, t := range targets {
		out[id] = append(append([]string{}, t.serve...), t.direct...)
	}
	return out, nil
}

func (s *Service) purgeTargets(ctx context.Context, ids []string) (map[string]*purgeTarget, error) {
	imgs, docs := splitIDs(ids)
	targets := map[string]*purgeTarget{}
	if len(imgs) > 0 {
		var rows []*models.Image
		if err := s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(imgs)).Scan(ctx); err != nil {
			return nil, err
		}
		byID := map[string]*models.Image{}
		for _, img := range rows {
			byID[img.ID] = img
			targets[img.ID] = &purgeTarget{collection: img.CollectionID, privacy: img.Privacy,
				serve:  []string{s.publicURL + "/media/originals/" + img.ID + "/" + url.PathEscape(img.Filename)},
				direct: appendDirect(nil, s.DirectURL(img.StorageKey))}
		}
		var rends []models.Rendition
		if err := s.db.NewSelect().Model(&rends).Where("image_id IN (?)", bun.In(imgs)).OrderExpr("id").Scan(ctx); err != nil {
			return nil, err
		}
		presets := s.presetsBySpec()
		for _, r := range rends {
			img, t := byID[r.ImageID], targets[r.ImageID]
			if img == nil {
				continue
			}
			for _, u := range s.renditionServeURLs(img, r, presets) {
				t.serve = append(t.serve, s.publicURL+u)
			}
			t.direct = appendDirect(t.direct, s.DirectURL(r.StorageKey))
		}
	}
	if len(docs) > 0 {
		var rows []*models.Document
		if err := s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(docs)).Scan(ctx); err != nil {
			return nil, err
		}
		for _, d := range rows {
			targets[d.ID] = &purgeTarget{collection: d.CollectionID, privacy: d.Privacy,
				serve:  []string{s.publicURL + "/media/documents/" + d.ID + "/" + url.PathEscape(d.Filename)},
				direct: appendDirect(nil, s.DirectURL(d.StorageKey))}
		}
	}
	return targets, nil
}

// RedactURL masks the signature of a rendition serve URL (/media/renditions/{id}/{signature}/…) so
// the URL can be logged: a signed URL is a capability. Other URLs pass unchanged.
func RedactURL(u string) string {
	i := strings.Index(u, "/media/renditions/")
	if i < 0 {
		return u
	}
	rest := strings.SplitN(u[i+len("/media/renditions/"):], "/", 3)
	if len(rest) < 3 || rest[1] == "preset" {
		return u
	}
	return u[:i] + "/media/renditions/" + rest[0] + "/…/" + rest[2]
}

func appendDirect(list []string, u string) []string {
	if u == "" {
		return list
	}
	return append(list, u)
}

// presetsBySpec maps the canonical spec of each configured preset to its name.
func (s *Service) presetsBySpec() map[string]string {
	out := map[string]string{}
	for name, spec := range s.rend.cfg.Presets {
		if sp, err := s.parseSpec(spec); err == nil {
			out[sp.String()] = name
		}
	}
	return out
}

// renditionServeURLs returns the serve-view paths of a stored rendition: its signed URL, and its
// preset URL when a preset names the same spec.
func (s *Service) renditionServeURLs(img *models.Image, r models.Rendition, presets map[string]string) []string {
	sp, err := s.parseSpec(r.Spec)
	if err != nil {
		return nil
	}
	info, err := s.renditionInfo(img, sp, "")
	if err != nil {
		return nil
	}
	urls := []string{info.URL}
	if name, ok := presets[sp.String()]; ok {
		if pi, err := s.renditionInfo(img, sp, name); err == nil {
			urls = append(urls, pi.URL)
		}
	}
	return urls
}

// purgeItems purges every URL of the items in one batch (serve URLs first) and publishes each
// outcome as an event. It never fails the caller: a purge that fails is logged and reported, and
// the CDN entry expires by its max-age (public files) or was never shared-cacheable (private).
func (s *Service) purgeItems(ctx context.Context, ids []string) {
	if s.purger == nil || len(ids) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	targets, err := s.purgeTargets(ctx, ids)
	if err != nil {
		s.log.ErrorContext(ctx, "cdn purge: list urls", "err", err)
		return
	}
	// One batch: every item's serve views first, then the direct URLs.
	var batch []string
	owner := map[string]string{}
	add := func(id string, urls []string) {
		for _, u := range urls {
			if _, dup := owner[u]; !dup {
				owner[u] = id
				batch = append(batch, u)
			}
		}
	}
	for _, id := range ids {
		if t := targets[id]; t != nil {
			add(id, t.serve)
		}
	}
	for _, id := range ids {
		if t := targets[id]; t != nil {
			add(id, t.direct)
		}
	}
	if len(batch) == 0 {
		return
	}
	results := s.purger.Purge(ctx, batch)
	why := causeOf(ctx)
	failed := 0
	evs := make([]events.Event, 0, len(results))
	for _, r := range results {
		outcome := "ok"
		if !r.OK {
			outcome = "error"
			failed++
			s.log.WarnContext(ctx, "cdn purge failed", "media_id", owner[r.URL], "url", RedactURL(r.URL), "status", r.Status, "err", r.Err, "purger", s.purger.Name())
		}
		metrics.PurgeCalls.WithLabelValues(s.purger.Name(), outcome).Inc()
		id := owner[r.URL]
		ev := events.Event{Kind: events.Purge, MediaID: id, Key: r.URL, OK: r.OK, Error: r.Err, ContentID: why.contentID, Cause: why.what, Time: time.Now()}
		if t := targets[id]; t != nil {
			ev.CollectionID, ev.Privacy = t.collection, t.privacy
			ev.CollectionPath, _ = s.collectionPath(ctx, t.collection)
		}
		evs = append(evs, ev)
	}
	s.emit(ctx, evs...)
	s.log.InfoContext(ctx, "cdn purged", "urls", len(batch), "failed", failed, "purger", s.purger.Name())
}
