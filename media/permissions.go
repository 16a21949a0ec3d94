package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// PermissionSetter sets the storage permission of one object (storage.ACL satisfies it).
type PermissionSetter interface {
	SetPublic(ctx context.Context, key string, public bool) error
	Name() string
}

// UseACL sets the driver that expresses privacy as storage permissions. Without one, Veil is
// proxy-only: every byte is served through its own permission-checked views, and there are no file
// permissions to keep in step.
func (s *Service) UseACL(a PermissionSetter) { s.acl = a }

// PermissionConfig governs how file permissions are set.
type PermissionConfig struct {
	// Workers bounds concurrent permission calls of one sync (VEIL_PERMISSION_WORKERS, default 64).
	Workers int
	// CallTimeout bounds one call (VEIL_PERMISSION_CALL_TIMEOUT, default 10s).
	CallTimeout time.Duration
	// Retries is how many times a failing call is retried within a sync, with exponential backoff
	// from Backoff (default 3 and 100ms); missing objects are not retried.
	Retries int
	Backoff time.Duration
}

// DefaultPermissionConfig returns the defaults documented on PermissionConfig.
func DefaultPermissionConfig() PermissionConfig {
	return PermissionConfig{Workers: 64, CallTimeout: 10 * time.Second, Retries: 3, Backoff: 100 * time.Millisecond}
}

// setPermission makes one call with its timeout, retrying failures other than a missing object
// with exponential backoff.
func (s *Service) setPermission(ctx context.Context, key string, public bool) error {
	cfg := s.cfg.Permissions
	if cfg.CallTimeout <= 0 {
		cfg = DefaultPermissionConfig()
	}
	var err error
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		err = s.acl.SetPublic(cctx, key, public)
		cancel()
		if err == nil || errors.Is(err, storage.ErrNotFound) || attempt >= cfg.Retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(cfg.Backoff << attempt):
		}
	}
}

// SyncReport says how a permission sync went.
type SyncReport struct {
	Items, Files, Failed int
}

type fileJob struct {
	item   string
	key    string
	public bool
}

// SyncPermissions sets the storage permission of every file (original and renditions) of the given
// media items to match their privacy, with a bounded pool of workers, and records
// file_permissions_last_set for each item whose files all succeeded. Failures are logged with the
// key and cause and never stop the other files.
func (s *Service) SyncPermissions(ctx context.Context, ids []string) SyncReport {
	ctx = context.WithoutCancel(ctx) // the privacy change committed: finish the files regardless
	imgs, docs := splitIDs(ids)
	var jobs []fileJob
	type item struct {
		table      string
		privacy    models.Privacy
		collection string
	}
	items := map[string]item{}
	var rows []struct {
		ID           string         `bun:"id"`
		StorageKey   string         `bun:"storage_key"`
		Privacy      models.Privacy `bun:"privacy"`
		CollectionID string         `bun:"collection_id"`
	}
	for _, set := range []struct {
		table string
		ids   []string
	}{{"images", imgs}, {"documents", docs}} {
		if len(set.ids) == 0 {
			continue
		}
		rows = rows[:0]
		if err := s.db.NewSelect().Table(set.table).Column("id", "storage_key", "privacy", "collection_id").Where("id IN (?)", bun.In(set.ids)).Scan(ctx, &rows); err != nil {
			s.log.ErrorContext(ctx, "permission sync: load items", "err", err)
			return SyncReport{Items: len(ids), Failed: len(ids)}
		}
		for _, r := range rows {
			items[r.ID] = item{table: set.table, privacy: r.Privacy, collection: r.CollectionID}
			jobs = append(jobs, fileJob{item: r.ID, key: r.StorageKey, public: r.Privacy == models.Public})
		}
	}
	if len(imgs) > 0 {
		var rends []models.Rendition
		if err := s.db.NewSelect().Model(&rends).Column("image_id", "storage_key").Where("image_id IN (?)", bun.In(imgs)).Scan(ctx); err != nil {
			s.log.ErrorContext(ctx, "permission sync: load renditions", "err", err)
			return SyncReport{Items: len(ids), Failed: len(ids)}
		}
		for _, r := range rends {
			jobs = append(jobs, fileJob{item: r.ImageID, key: r.StorageKey, public: items[r.ImageID].privacy == models.Public})
		}
	}
	failed := map[string]bool{}
	files := map[string]int{}
	for _, j := range jobs {
		files[j.item]++
	}
	why := causeOf(ctx)
	attempt := map[string]int{}
	s.attemptsMu.Lock()
	for id := range items {
		s.attempts[id]++
		attempt[id] = s.attempts[id]
	}
	s.attemptsMu.Unlock()
	event := func(id string, ev Event) {
		it := items[id]
		path, _ := s.collectionPath(ctx, it.collection)
		ev.MediaID, ev.CollectionID, ev.CollectionPath, ev.Privacy = id, it.collection, path, it.privacy
		ev.ContentID, ev.Cause, ev.Attempt, ev.Time = why.contentID, why.what, attempt[id], time.Now()
		s.bus.Publish(ctx, ev)
	}
	failedFiles := map[string]int{}
	if s.acl != nil {
		var mu sync.Mutex
		work := make(chan fileJob)
		var wg sync.WaitGroup
		workers := s.cfg.Permissions.Workers
		if workers <= 0 {
			workers = DefaultPermissionConfig().Workers
		}
		for range min(workers, len(jobs)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					err := s.setPermission(ctx, j.key, j.public)
					ev := Event{Kind: EventFilePermission, Key: j.key, Public: j.public, OK: err == nil}
					if err != nil {
						s.log.WarnContext(ctx, "file permission not set", "media_id", j.item, "key", j.key, "public", j.public, "acl", s.acl.Name(), "err", err)
						ev.Error = err.Error()
						mu.Lock()
						failed[j.item] = true
						failedFiles[j.item]++
						mu.Unlock()
					}
					event(j.item, ev)
				}
			}()
		}
		for _, j := range jobs {
			work <- j
		}
		close(work)
		wg.Wait()
	}
	// Record success per table and privacy in one statement each; the privacy condition keeps an
	// item that changed again meanwhile outdated.
	now := models.Now()
	done := map[string]map[models.Privacy][]string{}
	for id, it := range items {
		if failed[id] {
			continue
		}
		if done[it.table] == nil {
			done[it.table] = map[models.Privacy][]string{}
		}
		done[it.table][it.privacy] = append(done[it.table][it.privacy], id)
	}
	for table, byPrivacy := range done {
		for p, ids := range byPrivacy {
			q := s.db.NewUpdate().Table(table).Set("file_permissions_last_set = ?", now)
			if s.db.Dialect == models.Postgres {
				// Lock the rows in id order, as publishing does, so the two cannot deadlock.
				q = q.Where("id IN (?)", s.db.NewSelect().Table(table).Column("id").
					Where("id IN (?) AND privacy = ?", bun.In(ids), p).OrderExpr("id").For("UPDATE"))
			} else {
				q = q.Where("id IN (?) AND privacy = ?", bun.In(ids), p)
			}
			if _, err := q.Exec(ctx); err != nil {
				s.log.ErrorContext(ctx, "permission sync: record success", "table", table, "err", err)
			}
		}
	}
	s.attemptsMu.Lock()
	for id, it := range items {
		s.cache.drop(id)
		if !failed[id] {
			delete(s.attempts, id)
		}
		event(id, Event{Kind: EventItemPermissions, Public: it.privacy == models.Public, OK: !failed[id], Files: files[id], Failed: failedFiles[id]})
	}
	s.attemptsMu.Unlock()
	return SyncReport{Items: len(items), Files: len(jobs), Failed: len(failed)}
}

// setNewFile gives a file just written for an item the item's current permission (uploads are
// private; a rendition is born with its image's privacy). It reports whether it succeeded.
func (s *Service) setNewFile(ctx context.Context, key string, p models.Privacy) bool {
	if s.acl == nil {
		return true
	}
	if err := s.setPermission(ctx, key, p == models.Public); err != nil {
		s.log.WarnContext(ctx, "file permission not set", "key", key, "public", p == models.Public, "acl", s.acl.Name(), "err", err)
		return false
	}
	return true
}

// markOutdated clears file_permissions_last_set so the retry loop sets the item's files again.
func (s *Service) markOutdated(ctx context.Context, table, id string) {
	if _, err := s.db.NewUpdate().Table(table).Set("file_permissions_last_set = NULL").Where("id = ?", id).Exec(ctx); err != nil {
		s.log.ErrorContext(ctx, "could not mark permissions outdated", "id", id, "err", fmt.Errorf("%w", err))
	}
	s.cache.drop(id)
}

// Outdated returns up to limit ids of items whose file permissions may not match their privacy:
// never set, or set before the last privacy change. Oldest ids first.
func (s *Service) Outdated(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	for _, table := range []string{"images", "documents"} {
		var part []string
		err := s.db.NewSelect().Table(table).Column("id").
			Where("file_permissions_last_set IS NULL OR file_permissions_last_set < privacy_last_changed").
			OrderExpr("id").Limit(limit).Scan(ctx, &part)
		if err != nil {
			return nil, fmt.Errorf("media: find outdated %s: %w", table, err)
		}
		ids = append(ids, part...)
	}
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// RetryOutdated sets the file permissions of up to batch outdated items again and reports how it
// went. (Claiming rows across several instances with FOR UPDATE SKIP LOCKED arrives with the
// scale-out work; today two instances retrying at once only repeat idempotent calls.)
func (s *Service) RetryOutdated(ctx context.Context, batch int) (SyncReport, error) {
	ids, err := s.Outdated(ctx, batch)
	if err != nil || len(ids) == 0 {
		return SyncReport{}, err
	}
	rep := s.SyncPermissions(WithCause(ctx, "", "retry"), ids)
	s.log.InfoContext(ctx, "retried outdated file permissions", "items", rep.Items, "files", rep.Files, "failed", rep.Failed)
	return rep, nil
}

// RunRetryLoop retries outdated file permissions every interval until ctx is done. The caller
// owns it (run it in a goroutine, cancel ctx to stop).
func (s *Service) RunRetryLoop(ctx context.Context, interval time.Duration, batch int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for {
				rep, err := s.RetryOutdated(ctx, batch)
				if err != nil {
					s.log.ErrorContext(ctx, "permission retry", "err", err)
				}
				if err != nil || rep.Items < batch || rep.Failed == rep.Items {
					break
				}
			}
		}
	}
}
