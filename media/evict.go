package media

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
)

// noteUse remembers that this instance recorded a use of the rendition at key at now, and reports
// whether the previous record is older than the touch interval (so a new one is due).
func (e *renditionEngine) noteUse(key string, now time.Time) bool {
	e.usedMu.Lock()
	defer e.usedMu.Unlock()
	if last, ok := e.used[key]; ok && now.Sub(last) < e.cfg.TouchInterval {
		return false
	}
	if len(e.used) >= maxTrackedUses {
		clear(e.used)
	}
	e.used[key] = now
	return true
}

// touchRendition records that a stored rendition was served, at most once per touch interval per
// instance: a hot rendition costs one UPDATE per interval, not one per request. A failure only
// makes eviction's order less exact, so it is logged and ignored.
func (s *Service) touchRendition(ctx context.Context, imageID, spec, fk, key string) {
	if s.rend.cfg.MaxPerImage <= 0 || !s.rend.noteUse(key, time.Now()) {
		return
	}
	now := models.Now()
	if _, err := s.db.NewUpdate().Model((*models.Rendition)(nil)).Set("last_used_at = ?", now).
		Where("image_id = ? AND spec = ? AND focal_key = ?", imageID, spec, fk).Exec(context.WithoutCancel(ctx)); err != nil {
		s.log.WarnContext(ctx, "rendition use not recorded", "image_id", imageID, "spec", spec, "err", err)
	}
}

// evictRenditions keeps the image within RenditionConfig.MaxPerImage stored renditions: past it,
// the least recently used renditions that are neither a preset's nor an eager spec are deleted,
// rows first and then files. In that order no file is ever left without a row (a file without a
// row would be missed by privacy changes); a request that regenerates a victim between the two
// steps finds its file gone later and makes it again. Failures are logged: the bound is restored by
// the next generation.
func (s *Service) evictRenditions(ctx context.Context, imageID string) {
	limit := s.rend.cfg.MaxPerImage
	if limit <= 0 {
		return
	}
	n, err := s.db.NewSelect().Model((*models.Rendition)(nil)).Where("image_id = ?", imageID).Count(ctx)
	if err != nil || n <= limit {
		return
	}
	var rows []models.Rendition
	if err := s.db.NewSelect().Model(&rows).Column("id", "spec", "storage_key").Where("image_id = ?", imageID).
		OrderExpr("COALESCE(last_used_at, created_at), id").Scan(ctx); err != nil {
		s.log.WarnContext(ctx, "rendition eviction: list", "image_id", imageID, "err", err)
		return
	}
	var ids, keys []string
	for _, r := range rows {
		if len(ids) == len(rows)-limit {
			break
		}
		if !s.rend.kept[r.Spec] {
			ids, keys = append(ids, r.ID), append(keys, r.StorageKey)
		}
	}
	if len(ids) == 0 {
		return
	}
	if _, err := s.db.NewDelete().Model((*models.Rendition)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
		s.log.WarnContext(ctx, "rendition eviction: delete rows", "image_id", imageID, "err", err)
		return
	}
	s.rend.usedMu.Lock()
	for _, k := range keys {
		delete(s.rend.used, k)
	}
	s.rend.usedMu.Unlock()
	for _, k := range keys {
		if err := s.store.Delete(ctx, k); err != nil {
			s.log.WarnContext(ctx, "rendition eviction: delete file", "image_id", imageID, "key", k, "err", err)
		}
	}
	s.log.InfoContext(ctx, "renditions evicted", "image_id", imageID, "count", len(ids), "limit", limit)
}
