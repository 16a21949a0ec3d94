package media

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/models"
)

// ReferenceInput says content uses a media item in a field.
type ReferenceInput struct {
	MediaID string
	Field   string
}

// UpsertContentInput creates or updates the content item (Kind, Key) and replaces its draft
// references with References plus every Veil media id found in Body (any JSON).
type UpsertContentInput struct {
	Kind, Key, Title string
	References       []ReferenceInput
	Body             json.RawMessage
}

// PublishResult says what a publish, unpublish or delete changed.
type PublishResult struct {
	Content     *models.Content
	MadePublic  []string // media ids
	MadePrivate []string

	collections map[string]string // media id → collection id, for events
}

// ConflictError refuses an operation that would break something else (e.g. deleting media that
// live content uses).
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return e.Reason }

const maxReferences = 10000

var (
	kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	// mediaIDPattern finds Veil media ids inside any text.
	mediaIDPattern = regexp.MustCompile(`\b(?:img|doc)_[0-9A-HJKMNP-TV-Z]{26}\b`)
)

func requirePublish(ctx context.Context) error {
	v := auth.ViewerFrom(ctx)
	switch {
	case v.IsAnonymous():
		return fault.Unauthenticatedf("sign in with an API token")
	case !v.HasGlobal(models.PermPublish):
		return fault.Forbiddenf("needs PUBLISH")
	}
	return nil
}

// UpsertContent creates or updates a content item and replaces its draft references. Live
// references, and so privacy, change only when the content is published.
func (s *Service) UpsertContent(ctx context.Context, in UpsertContentInput) (*models.Content, error) {
	if err := requirePublish(ctx); err != nil {
		return nil, err
	}
	if !kindPattern.MatchString(in.Kind) {
		return nil, inputErr("kind", "must be 1-64 lower-case letters, digits, - or _, starting with a letter")
	}
	key, err := cleanText("key", in.Key, 255)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, inputErr("key", "must not be empty")
	}
	title, err := cleanText("title", in.Title, maxTitle)
	if err != nil {
		return nil, err
	}
	refs, err := s.collectRefs(ctx, in)
	if err != nil {
		return nil, err
	}
	c := new(models.Content)
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		err := s.forUpdate(tx.NewSelect().Model(c).Where("kind = ? AND key = ?", in.Kind, key)).Scan(ctx)
		now := models.Now()
		switch {
		case errors.Is(err, sql.ErrNoRows):
			*c = models.Content{ID: NewID(KindContent), Kind: in.Kind, Key: key, Title: title, CreatedAt: now, UpdatedAt: now}
			if _, err := tx.NewInsert().Model(c).Exec(ctx); err != nil {
				return fmt.Errorf("media: create content: %w", err)
			}
		case err != nil:
			return fmt.Errorf("media: load content: %w", err)
		default:
			c.Title, c.UpdatedAt = title, now
			if _, err := tx.NewUpdate().Model(c).Column("title", "updated_at").WherePK().Exec(ctx); err != nil {
				return fmt.Errorf("media: update content: %w", err)
			}
		}
		if _, err := tx.NewDelete().Model((*models.Reference)(nil)).Where("content_id = ? AND state = ?", c.ID, models.Draft).Exec(ctx); err != nil {
			return fmt.Errorf("media: replace draft references: %w", err)
		}
		if len(refs) == 0 {
			return nil
		}
		rows := make([]models.Reference, len(refs))
		for i, r := range refs {
			rows[i] = models.Reference{ContentID: c.ID, State: models.Draft, MediaID: r.MediaID, Field: r.Field}
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("media: save draft references: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// collectRefs validates the explicit references, adds the ids found in the body, removes
// duplicates and checks that the viewer may read every referenced item (one query per media
// table): an item they may not read is refused exactly like an id that names nothing.
func (s *Service) collectRefs(ctx context.Context, in UpsertContentInput) ([]ReferenceInput, error) {
	seen := map[ReferenceInput]bool{}
	var refs []ReferenceInput
	add := func(r ReferenceInput) error {
		if seen[r] {
			return nil
		}
		if len(refs) == maxReferences {
			return inputErr("references", "at most %d references per content item", maxReferences)
		}
		seen[r] = true
		refs = append(refs, r)
		return nil
	}
	for i, r := range in.References {
		k, err := ParseID(r.MediaID)
		if err != nil || (k != KindImage && k != KindDocument) {
			return nil, inputErr(fmt.Sprintf("references[%d].mediaId", i), "%q is not an image or document id", truncate(r.MediaID, 64))
		}
		field, err := cleanText(fmt.Sprintf("references[%d].field", i), r.Field, 255)
		if err != nil {
			return nil, err
		}
		if err := add(ReferenceInput{MediaID: r.MediaID, Field: field}); err != nil {
			return nil, err
		}
	}
	if len(in.Body) > 0 {
		var body any
		if err := json.Unmarshal(in.Body, &body); err != nil {
			return nil, inputErr("body", "is not JSON: %v", err)
		}
		var walkErr error
		walkJSON(body, "body", func(path, text string) {
			for _, id := range mediaIDPattern.FindAllString(text, -1) {
				if walkErr == nil {
					walkErr = add(ReferenceInput{MediaID: id, Field: truncate(path, 255)})
				}
			}
		})
		if walkErr != nil {
			return nil, walkErr
		}
	}
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.MediaID)
	}
	bad, err := s.unreadable(ctx, s.db.DB, dedupe(ids))
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, unknownMedia(bad)
	}
	return refs, nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

func dedupe(ids []string) []string {
	sort.Strings(ids)
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// walkJSON calls fn with the path and value of every string in a decoded JSON value.
func walkJSON(v any, path string, fn func(path, text string)) {
	switch x := v.(type) {
	case string:
		fn(path, x)
	case []any:
		for i, e := range x {
			walkJSON(e, path+"["+strconv.Itoa(i)+"]", fn)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkJSON(x[k], path+"."+k, fn)
		}
	}
}

type liveChange int

const (
	publish liveChange = iota
	unpublish
	remove
)

// PublishContent makes the draft references live and recomputes the privacy of every media item
// whose live references changed, in one transaction.
func (s *Service) PublishContent(ctx context.Context, id string) (*PublishResult, error) {
	return s.changeLive(ctx, id, publish)
}

// UnpublishContent removes the live references and recomputes privacy.
func (s *Service) UnpublishContent(ctx context.Context, id string) (*PublishResult, error) {
	return s.changeLive(ctx, id, unpublish)
}

// DeleteContent unpublishes and deletes a content item.
func (s *Service) DeleteContent(ctx context.Context, id string) (*PublishResult, error) {
	return s.changeLive(ctx, id, remove)
}

// changeLive is the privacy rule at work. It costs a constant number of statements whatever the
// number of references: lock the content; read the affected media ids; lock those media rows in id
// order (so concurrent publishes of content sharing media serialise on them and each recompute sees
// the other's committed references); replace the live references in one statement; update the
// content; recompute privacy with one UPDATE … WHERE privacy differs per media table, which moves
// privacy_last_changed only on a real change.
func (s *Service) changeLive(ctx context.Context, id string, change liveChange) (*PublishResult, error) {
	if err := requirePublish(ctx); err != nil {
		return nil, err
	}
	if err := parseIDOf("id", id, KindContent); err != nil {
		return nil, err
	}
	var res *PublishResult
	s.hook("publish.commit", id)
	err := s.retryDeadlock(ctx, func() error {
		res = &PublishResult{Content: new(models.Content), collections: map[string]string{}}
		return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			c := res.Content
			if err := s.forUpdate(tx.NewSelect().Model(c).Where("id = ?", id)).Scan(ctx); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("media: content %s: %w", id, ErrNotFound)
				}
				return fmt.Errorf("media: load content: %w", err)
			}
			var affected []string
			q := tx.NewSelect().Model((*models.Reference)(nil)).ColumnExpr("DISTINCT media_id").Where("content_id = ?", id)
			if change != publish {
				q = q.Where("state = ?", models.Live)
			}
			if err := q.Scan(ctx, &affected); err != nil {
				return fmt.Errorf("media: affected media: %w", err)
			}
			imgs, docs := splitIDs(affected)
			if s.db.Dialect == models.Postgres {
				for _, set := range []struct {
					table string
					ids   []string
				}{{"images", imgs}, {"documents", docs}} {
					if len(set.ids) == 0 {
						continue
					}
					if _, err := tx.ExecContext(ctx, "SELECT id FROM "+set.table+" WHERE id IN (?) ORDER BY id FOR UPDATE", bun.In(set.ids)); err != nil {
						return fmt.Errorf("media: lock %s: %w", set.table, err)
					}
				}
			}
			if change == publish {
				if err := s.checkDraftReadable(ctx, tx, id); err != nil {
					return err
				}
			}
			if _, err := tx.NewDelete().Model((*models.Reference)(nil)).Where("content_id = ? AND state = ?", id, models.Live).Exec(ctx); err != nil {
				return fmt.Errorf("media: drop live references: %w", err)
			}
			now := models.Now()
			switch change {
			case publish:
				if _, err := tx.ExecContext(ctx, `INSERT INTO content_refs (content_id, state, media_id, field)
				SELECT content_id, ?, media_id, field FROM content_refs WHERE content_id = ? AND state = ?`, models.Live, id, models.Draft); err != nil {
					return fmt.Errorf("media: make references live: %w", err)
				}
				c.Live, c.LastPublishedAt, c.UpdatedAt = true, &now, now
				if c.FirstPublishedAt == nil {
					c.FirstPublishedAt = &now
				}
				if _, err := tx.NewUpdate().Model(c).WherePK().Exec(ctx); err != nil {
					return fmt.Errorf("media: update content: %w", err)
				}
			case unpublish:
				c.Live, c.UpdatedAt = false, now
				if _, err := tx.NewUpdate().Model(c).Column("live", "updated_at").WherePK().Exec(ctx); err != nil {
					return fmt.Errorf("media: update content: %w", err)
				}
			case remove:
				if _, err := tx.NewDelete().Model((*models.Reference)(nil)).Where("content_id = ?", id).Exec(ctx); err != nil {
					return fmt.Errorf("media: delete references: %w", err)
				}
				if _, err := tx.NewDelete().Model(c).WherePK().Exec(ctx); err != nil {
					return fmt.Errorf("media: delete content: %w", err)
				}
				c.Live = false
			}
			for _, set := range []struct {
				table string
				ids   []string
			}{{"images", imgs}, {"documents", docs}} {
				pub, priv, err := recompute(ctx, tx, set.table, set.ids, now, res.collections)
				if err != nil {
					return err
				}
				res.MadePublic = append(res.MadePublic, pub...)
				res.MadePrivate = append(res.MadePrivate, priv...)
			}
			return s.recordLiveChange(ctx, tx, res, change)
		})
	})
	if err != nil {
		return nil, err
	}
	s.hook("publish.committed", id)
	s.events.Flush(ctx) // this instance's subscribers see the change before its permission results
	changed := append(append([]string{}, res.MadePublic...), res.MadePrivate...)
	for _, mid := range changed {
		s.cache.drop(mid)
	}
	if len(changed) > 0 {
		cause := liveCause[change]
		s.log.InfoContext(ctx, "privacy changed", "content_id", id, "cause", cause, "made_public", len(res.MadePublic), "made_private", len(res.MadePrivate))
		s.SyncPermissions(WithCause(ctx, id, cause), changed)
		s.purgeItems(WithCause(ctx, id, cause), changed)
	}
	return res, nil
}

var liveCause = [...]string{publish: "publish", unpublish: "unpublish", remove: "delete"}

// recordLiveChange records, in the publish transaction, what a publish, unpublish or delete did:
// the content event, then one privacy change per item whose privacy changed.
func (s *Service) recordLiveChange(ctx context.Context, tx bun.Tx, res *PublishResult, change liveChange) error {
	c, cause, now := res.Content, liveCause[change], models.Now()
	evs := []events.Event{{Kind: [...]events.Kind{publish: events.ContentPublished, unpublish: events.ContentUnpublished, remove: events.ContentDeleted}[change],
		ContentID: c.ID, Cause: cause, Detail: c.Kind + "/" + c.Key, Time: now}}
	for _, set := range []struct {
		ids          []string
		after, prior models.Privacy
	}{{res.MadePublic, models.Public, models.Private}, {res.MadePrivate, models.Private, models.Public}} {
		for _, mid := range set.ids {
			coll := res.collections[mid]
			path, err := s.collectionPath(ctx, coll)
			if err != nil {
				return err
			}
			evs = append(evs, events.Event{Kind: events.PrivacyChanged, MediaID: mid, CollectionID: coll, CollectionPath: path,
				Privacy: set.after, Before: set.prior, ContentID: c.ID, Cause: cause, Time: now})
		}
	}
	return s.record(ctx, tx, evs...)
}

// checkDraftReadable refuses to publish a draft that references an item the publisher may not
// read, as UpsertContent refuses to save one. A draft can hold such a reference when the grant
// that allowed it was revoked after the draft was saved, or when another editor saved it: the
// reference stays (drafts and live references are never rewritten behind an editor's back), but
// publishing it would make a private item public on the authority of someone who may not see it.
// An item that is already PUBLIC is readable by everyone, so re-publishing content whose live
// items stay the same never needs a grant; an item that is PRIVATE needs read access to it. It
// runs in the publish transaction after the media rows are locked, so the privacy it checks is
// the one the publish changes.
func (s *Service) checkDraftReadable(ctx context.Context, tx bun.Tx, contentID string) error {
	var ids []string
	if err := tx.NewSelect().Model((*models.Reference)(nil)).ColumnExpr("DISTINCT media_id").
		Where("content_id = ? AND state = ?", contentID, models.Draft).Scan(ctx, &ids); err != nil {
		return fmt.Errorf("media: draft references: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	bad, err := s.unreadable(ctx, tx, ids)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return unknownMedia(bad)
	}
	return nil
}

func splitIDs(ids []string) (imgs, docs []string) {
	for _, id := range ids {
		switch KindOfID(id) {
		case KindImage:
			imgs = append(imgs, id)
		case KindDocument:
			docs = append(docs, id)
		}
	}
	sort.Strings(imgs)
	sort.Strings(docs)
	return imgs, docs
}

// recompute applies the rule "PUBLIC iff at least one live reference" to ids of one media table in
// one statement, touching only rows whose privacy actually changes, and returns which changed.
func recompute(ctx context.Context, tx bun.Tx, table string, ids []string, now time.Time, collections map[string]string) (madePublic, madePrivate []string, err error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	const target = `CASE WHEN EXISTS (SELECT 1 FROM content_refs AS lr WHERE lr.media_id = %[1]s.id AND lr.state = 'LIVE') THEN 'PUBLIC' ELSE 'PRIVATE' END`
	want := fmt.Sprintf(target, table)
	rows, err := tx.QueryContext(ctx, "UPDATE "+table+" SET privacy = "+want+", privacy_last_changed = ? WHERE id IN (?) AND privacy <> "+want+" RETURNING id, privacy, collection_id",
		now, bun.In(ids))
	if err != nil {
		return nil, nil, fmt.Errorf("media: recompute privacy of %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, p, coll string
		if err := rows.Scan(&id, &p, &coll); err != nil {
			return nil, nil, fmt.Errorf("media: recompute privacy of %s: %w", table, err)
		}
		collections[id] = coll
		if models.Privacy(p) == models.Public {
			madePublic = append(madePublic, id)
		} else {
			madePrivate = append(madePrivate, id)
		}
	}
	return madePublic, madePrivate, rows.Err()
}

// Content returns a content item by id, or by kind and key (PUBLISH).
func (s *Service) Content(ctx context.Context, id, kind, key string) (*models.Content, error) {
	if err := requirePublish(ctx); err != nil {
		return nil, err
	}
	c := new(models.Content)
	q := s.db.NewSelect().Model(c)
	switch {
	case id != "":
		if err := parseIDOf("id", id, KindContent); err != nil {
			return nil, err
		}
		q = q.Where("id = ?", id)
	case kind != "" && key != "":
		q = q.Where("kind = ? AND key = ?", kind, key)
	default:
		return nil, inputErr("id", "give id, or kind and key")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, notFound(err, "content", id+kind+"/"+key)
	}
	return c, nil
}

// ContentFilter narrows a list of content items.
type ContentFilter struct {
	Live *bool
	Kind string
}

// Contents lists content items newest first (PUBLISH).
func (s *Service) Contents(ctx context.Context, f ContentFilter, p PageRequest) (Page[*models.Content], error) {
	if err := requirePublish(ctx); err != nil {
		return Page[*models.Content]{}, err
	}
	n, after, err := p.validate()
	if err != nil {
		return Page[*models.Content]{}, err
	}
	var rows []*models.Content
	q := s.db.NewSelect().Model(&rows).OrderExpr("id DESC").Limit(n + 1)
	if f.Live != nil {
		q = q.Where("live = ?", *f.Live)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if after != "" {
		q = q.Where("id < ?", after)
	}
	if err := q.Scan(ctx); err != nil {
		return Page[*models.Content]{}, fmt.Errorf("media: list content: %w", err)
	}
	page := Page[*models.Content]{Items: rows, HasPrevious: after != ""}
	if len(rows) > n {
		page.Items, page.HasNextPage = rows[:n], true
	}
	return page, nil
}

// ReferencesOf returns the references of content items in one state, in the order of ids (one query).
func (s *Service) ReferencesOf(ctx context.Context, ids []string, state models.RefState) ([][]models.Reference, error) {
	var rows []models.Reference
	if err := s.db.NewSelect().Model(&rows).Where("content_id IN (?) AND state = ?", bun.In(ids), state).
		OrderExpr("content_id, field, media_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("media: load references: %w", err)
	}
	return groupInOrder(ids, rows, func(r models.Reference) (string, models.Reference) { return r.ContentID, r }), nil
}

// Usage is one use of a media item by a content item.
type Usage struct {
	Content *models.Content
	Field   string
	Live    bool
}

// UsageOf returns, in the order of mediaIDs, the content using each item (draft and live
// references; one query). Only PUBLISH holders see usage: content titles of drafts are not for
// everyone; others get empty lists.
func (s *Service) UsageOf(ctx context.Context, mediaIDs []string) ([][]Usage, error) {
	out := make([][]Usage, len(mediaIDs))
	if !auth.ViewerFrom(ctx).HasGlobal(models.PermPublish) {
		return out, nil
	}
	var rows []usageRow
	err := s.db.NewSelect().Model((*models.Content)(nil)).ColumnExpr("c.*, r.media_id, r.field, r.state").
		Join("JOIN content_refs AS r ON r.content_id = c.id").Where("r.media_id IN (?)", bun.In(mediaIDs)).
		OrderExpr("c.id, r.field, r.state").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("media: load usage: %w", err)
	}
	return groupInOrder(mediaIDs, rows, func(r usageRow) (string, Usage) {
		return r.MediaID, Usage{Content: &r.Content, Field: r.Field, Live: r.State == models.Live}
	}), nil
}

// usageRow is a content item with one of its references.
type usageRow struct {
	models.Content `bun:",extend"`
	MediaID        string          `bun:"media_id"`
	Field          string          `bun:"field"`
	State          models.RefState `bun:"state"`
}

// CanDelete reports whether the viewer may delete the item now: DELETE on its collection, and no
// live content using it (admins may force that).
func (s *Service) CanDelete(ctx context.Context, id, collectionID string, st models.PrivacyState) bool {
	if s.Authorize(ctx, ActionDelete, collectionID, st) != nil {
		return false
	}
	if auth.ViewerFrom(ctx).Admin {
		return true
	}
	n, err := s.liveUses(ctx, id)
	return err == nil && n == 0
}

func (s *Service) liveUses(ctx context.Context, id string) (int, error) {
	return s.db.NewSelect().Model((*models.Reference)(nil)).Where("media_id = ? AND state = ?", id, models.Live).Count(ctx)
}

// refuseIfLive refuses to delete media that live content uses unless an admin forces it.
func (s *Service) refuseIfLive(ctx context.Context, id string, force bool) error {
	n, err := s.liveUses(ctx, id)
	if err != nil {
		return fmt.Errorf("media: check usage: %w", err)
	}
	if n == 0 {
		return nil
	}
	if force && auth.ViewerFrom(ctx).Admin {
		return nil
	}
	if force {
		return fault.Forbiddenf("only admins may delete media that live content uses")
	}
	return &ConflictError{Reason: fmt.Sprintf("%d live content reference(s) use this item: unpublish them first, or an admin may delete with force: true", n)}
}

type causeKey struct{}

type cause struct{ contentID, what string }

// WithCause tells SyncPermissions which content change (or "retry") its events belong to.
func WithCause(ctx context.Context, contentID, what string) context.Context {
	return context.WithValue(ctx, causeKey{}, cause{contentID, what})
}

func causeOf(ctx context.Context) cause {
	c, _ := ctx.Value(causeKey{}).(cause)
	return c
}

// retryDeadlock runs fn again (up to 3 times) when Postgres aborted it as a deadlock victim or for
// a serialization failure: the transaction rolled back entirely, so running it again is safe.
func (s *Service) retryDeadlock(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var pgErr pgdriver.Error
		if err == nil || attempt == 3 || !errors.As(err, &pgErr) || (pgErr.Field('C') != "40P01" && pgErr.Field('C') != "40001") {
			return err
		}
		s.log.WarnContext(ctx, "publish transaction retried", "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
}
