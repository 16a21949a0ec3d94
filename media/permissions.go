package media

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/metrics"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// PermissionSetter sets the storage permission of one object (storage.ACL satisfies it).
type PermissionSetter interface {
	SetPublic(ctx context.Context, key string, public bool) error
	Name() string
}

// PermissionStrategy names how privacy reaches storage: the driver's name, or "proxy-only" with the
// reason.
func (s *Service) PermissionStrategy() (strategy, reason string) {
	if s.acl != nil {
		return s.acl.Name(), ""
	}
	if s.proxyReason == "" {
		return "proxy-only", "no file-permission driver configured"
	}
	return "proxy-only", s.proxyReason
}

// CountOutdated counts the items whose file permissions may not match their privacy. /readyz and
// /metrics both ask, as often as their callers poll, so the count is taken at most once per
// outdatedCountTTL and shared.
func (s *Service) CountOutdated(ctx context.Context) (int, error) {
	s.outdatedMu.Lock()
	defer s.outdatedMu.Unlock()
	if !s.outdatedAt.IsZero() && time.Since(s.outdatedAt) < outdatedCountTTL {
		return s.outdatedN, nil
	}
	total := 0
	for _, table := range []string{"images", "documents"} {
		n, err := s.db.NewSelect().Table(table).Where(outdatedWhere).Count(ctx)
		if err != nil {
			return 0, fmt.Errorf("media: count outdated %s: %w", table, err)
		}
		total += n
	}
	s.outdatedAt, s.outdatedN = time.Now(), total
	return total, nil
}

// outdatedCountTTL is how long CountOutdated reuses its answer.
const outdatedCountTTL = 10 * time.Second

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
	// Lease is how long an instance's claim on an item lasts (VEIL_PERMISSION_LEASE, default
	// 30s): other instances' retries skip claimed items until the claim is released or expires. A
	// heartbeat renews the claims of a sync every Heartbeat while it works, so a live holder keeps
	// its items however long its sync takes and a dead one's items are free within one lease.
	Lease time.Duration
	// Heartbeat is how often a sync renews its claims (default a third of Lease).
	Heartbeat time.Duration
}

// DefaultPermissionConfig returns the defaults documented on PermissionConfig.
func DefaultPermissionConfig() PermissionConfig {
	return PermissionConfig{Workers: 64, CallTimeout: 10 * time.Second, Retries: 3, Backoff: 100 * time.Millisecond, Lease: 30 * time.Second}
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
		outcome := "ok"
		switch {
		case errors.Is(err, storage.ErrNotFound):
			outcome = "not_found"
		case err != nil:
			outcome = "error"
		}
		metrics.PermissionCalls.WithLabelValues(s.acl.Name(), outcome).Inc()
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

// SyncReport says how a permission sync went. Contended items were being synced by another
// instance at the same time: they stay outdated for the retry loop, which settles them. Leased
// lists the outdated items a retry left alone because a sync holds a live lease on them (they
// count as contended too): their holder is setting them, or, if it died, any retry takes them
// once the lease expires.
type SyncReport struct {
	Items, Files, Failed, Contended int
	Leased                          []Lease
}

// Lease is a live claim of a sync on an outdated item.
type Lease struct {
	MediaID string    `bun:"media_id"`
	Holder  string    `bun:"claimed_by"`
	Expires time.Time `bun:"claimed_until"`
}

type fileJob struct {
	item      string
	key       string
	public    bool
	rendition bool
}

// syncItem is what a sync knows about one media item.
type syncItem struct {
	table      string
	privacy    models.Privacy
	changed    time.Time // privacy_last_changed when loaded: success is recorded only if unchanged
	collection string
	attempt    int
	files      int
	failed     int
	firstErr   string
	contended  bool
}

// SyncPermissions sets the storage permission of every file (original and renditions) of the given
// media items to match their privacy, with a bounded pool of workers, and records
// file_permissions_last_set for each item whose files all succeeded. Failures are logged with the
// key and cause, recorded as the item's last error, and never stop the other files.
//
// It leases the items first, so the retry loops of other instances leave them alone; an item
// another instance was already syncing is synced too (its privacy just changed) but not recorded
// as up to date, because the other instance's older calls may land after ours.
func (s *Service) SyncPermissions(ctx context.Context, ids []string) SyncReport {
	ctx = context.WithoutCancel(ctx) // the privacy change committed: finish the files regardless
	if len(ids) == 0 {
		return SyncReport{}
	}
	contended, err := s.lease(ctx, ids)
	if err != nil {
		s.log.ErrorContext(ctx, "permission sync: lease items", "err", err)
		return SyncReport{Items: len(ids), Failed: len(ids)}
	}
	return s.syncLeased(ctx, ids, contended)
}

// syncLeased syncs items this instance holds leases on, renewing the leases while it works, and
// releases them.
func (s *Service) syncLeased(ctx context.Context, ids []string, contended map[string]bool) SyncReport {
	stopHeartbeat := s.heartbeat(ctx, ids)
	defer stopHeartbeat() // also when the goroutine ends abnormally: a dead holder renews nothing
	s.hook("sync.list", strings.Join(ids, ","))
	items, jobs, err := s.loadSync(ctx, ids)
	if err != nil {
		s.log.ErrorContext(ctx, "permission sync: load items", "err", err)
		stopHeartbeat()
		s.release(ctx, nil, ids)
		return SyncReport{Items: len(ids), Failed: len(ids)}
	}
	for id := range contended {
		if it := items[id]; it != nil {
			it.contended = true
		}
	}
	why := causeOf(ctx)
	event := func(id string, ev events.Event) events.Event {
		it := items[id]
		path, _ := s.collectionPath(ctx, it.collection)
		ev.MediaID, ev.CollectionID, ev.CollectionPath, ev.Privacy = id, it.collection, path, it.privacy
		ev.ContentID, ev.Cause, ev.Attempt, ev.Time = why.contentID, why.what, it.attempt, time.Now()
		return ev
	}
	// The file results are recorded with the item results at the end, in one transaction: a
	// permission call never waits for the database (the sync may share it with a transaction that
	// holds SQLite's write lock, and an event write there would stall the calls, then fail).
	var (
		fileMu     sync.Mutex
		fileEvents []events.Event
	)
	if s.acl != nil {
		s.hook("sync.acl", strings.Join(ids, ","))
		s.runJobs(ctx, jobs, func(j fileJob, err error) {
			ev := events.Event{Kind: events.FilePermission, Key: j.key, Public: j.public, OK: err == nil}
			if err != nil {
				s.log.WarnContext(ctx, "file permission not set", "media_id", j.item, "key", j.key, "public", j.public, "acl", s.acl.Name(), "err", err)
				ev.Error = err.Error()
			}
			ev = event(j.item, ev)
			fileMu.Lock()
			fileEvents = append(fileEvents, ev)
			fileMu.Unlock()
		}, items)
	}
	rep := SyncReport{Items: len(items), Files: len(jobs)}
	var done []string
	for id, it := range items {
		switch {
		case it.failed > 0:
			rep.Failed++
		case it.contended:
			rep.Contended++
		default:
			done = append(done, id)
		}
	}
	s.hook("sync.record", strings.Join(ids, ","))
	s.recordSuccess(ctx, items, done)
	stopHeartbeat()
	s.release(ctx, items, ids)
	results := make([]events.Event, 0, len(items))
	for id, it := range items {
		s.cache.drop(id)
		ev := events.Event{Kind: events.ItemPermissions, Public: it.privacy == models.Public, OK: it.failed == 0 && !it.contended, Files: it.files, Failed: it.failed}
		switch {
		case it.failed > 0:
			ev.Error = it.firstErr
		case it.contended:
			ev.Error = errContended
		}
		results = append(results, event(id, ev))
	}
	s.emit(ctx, append(fileEvents, results...)...)
	return rep
}

const errContended = "another instance was setting these files at the same time; the retry loop settles them"

// loadSync loads the items and lists the file jobs: each item's original and renditions.
func (s *Service) loadSync(ctx context.Context, ids []string) (map[string]*syncItem, []fileJob, error) {
	imgs, docs := splitIDs(ids)
	items := map[string]*syncItem{}
	var jobs []fileJob
	for _, set := range []struct {
		table string
		ids   []string
	}{{"images", imgs}, {"documents", docs}} {
		if len(set.ids) == 0 {
			continue
		}
		var rows []struct {
			ID                 string         `bun:"id"`
			StorageKey         string         `bun:"storage_key"`
			Privacy            models.Privacy `bun:"privacy"`
			PrivacyLastChanged time.Time      `bun:"privacy_last_changed"`
			CollectionID       string         `bun:"collection_id"`
		}
		if err := s.db.NewSelect().Table(set.table).Column("id", "storage_key", "privacy", "privacy_last_changed", "collection_id").
			Where("id IN (?)", bun.In(set.ids)).Scan(ctx, &rows); err != nil {
			return nil, nil, fmt.Errorf("load %s: %w", set.table, err)
		}
		for _, r := range rows {
			items[r.ID] = &syncItem{table: set.table, privacy: r.Privacy, changed: r.PrivacyLastChanged, collection: r.CollectionID, attempt: 1}
			jobs = append(jobs, fileJob{item: r.ID, key: r.StorageKey, public: r.Privacy == models.Public})
		}
	}
	if len(imgs) > 0 {
		var rends []models.Rendition
		if err := s.db.NewSelect().Model(&rends).Column("image_id", "storage_key").Where("image_id IN (?)", bun.In(imgs)).Scan(ctx); err != nil {
			return nil, nil, fmt.Errorf("load renditions: %w", err)
		}
		for _, r := range rends {
			if it := items[r.ImageID]; it != nil {
				jobs = append(jobs, fileJob{item: r.ImageID, key: r.StorageKey, public: it.privacy == models.Public, rendition: true})
			}
		}
	}
	var prior []models.PermissionSync
	if err := s.db.NewSelect().Model(&prior).Column("media_id", "attempts").Where("media_id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("load permission attempts: %w", err)
	}
	for _, p := range prior {
		if it := items[p.MediaID]; it != nil {
			it.attempt = p.Attempts + 1
		}
	}
	for _, j := range jobs {
		items[j.item].files++
	}
	return items, jobs, nil
}

// runJobs makes the permission calls with the worker pool, calling report for each outcome and
// counting failures on the items.
func (s *Service) runJobs(ctx context.Context, jobs []fileJob, report func(fileJob, error), items map[string]*syncItem) {
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
				metrics.PermissionQueue.Dec()
				err := s.setPermission(ctx, j.key, j.public)
				if j.rendition && errors.Is(err, storage.ErrNotFound) {
					// Evicted (or its image deleted) after it was listed: a file that is not there
					// is not open to anyone, and a regeneration sets its own permission.
					err = nil
				}
				if err != nil {
					mu.Lock()
					it := items[j.item]
					if it.failed == 0 {
						it.firstErr = j.key + ": " + err.Error()
					}
					it.failed++
					mu.Unlock()
				}
				report(j, err)
			}
		}()
	}
	metrics.PermissionQueue.Add(float64(len(jobs)))
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
}

// recordSuccess moves file_permissions_last_set for the items whose files all succeeded, one
// statement per table and privacy. The privacy conditions keep an item that changed again meanwhile
// (here or on another instance) outdated.
func (s *Service) recordSuccess(ctx context.Context, items map[string]*syncItem, done []string) {
	now := models.Now()
	type group struct {
		table   string
		privacy models.Privacy
	}
	byGroup := map[group][]string{}
	for _, id := range done {
		it := items[id]
		g := group{it.table, it.privacy}
		byGroup[g] = append(byGroup[g], id)
	}
	for g, ids := range byGroup {
		// An item whose privacy_last_changed moved after we loaded it was changed by a later
		// publish: its own sync records it. Comparing against the load time keeps it outdated here.
		cond := func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("id IN (?) AND privacy = ?", bun.In(ids), g.privacy).Where("privacy_last_changed <= ?", latest(items, ids))
		}
		q := s.db.NewUpdate().Table(g.table).Set("file_permissions_last_set = ?", now)
		if s.db.Dialect == models.Postgres {
			// Lock the rows in id order, as publishing does, so the two cannot deadlock.
			q = q.Where("id IN (?)", cond(s.db.NewSelect().Table(g.table).Column("id")).OrderExpr("id").For("UPDATE"))
		} else {
			q = q.Where("id IN (?)", cond(s.db.NewSelect().Table(g.table).Column("id")))
		}
		if _, err := q.Exec(ctx); err != nil {
			s.log.ErrorContext(ctx, "permission sync: record success", "table", g.table, "err", err)
		}
	}
}

// latest is the newest privacy_last_changed among the loaded items: an item changed after the
// load has a later one (privacy changes are stamped at commit with the clock, which only moves on).
func latest(items map[string]*syncItem, ids []string) time.Time {
	var t time.Time
	for _, id := range ids {
		if c := items[id].changed; c.After(t) {
			t = c
		}
	}
	return t
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

// markFilesOutdated records that a file of an item may not have the item's permission, in a way a
// sync running at the same moment cannot overwrite: file_permissions_last_set is cleared and
// privacy_last_changed moves past seen (the newest value the caller read), so a concurrent sync
// that loaded the item before this mark fails the "unchanged since loaded" condition of
// recordSuccess and leaves the item outdated for the retry loop. privacy_last_changed then means
// "permissions must be set again since", which is what the outdated rule reads it as.
func (s *Service) markFilesOutdated(ctx context.Context, table, id string, seen time.Time) {
	stamp := models.Now()
	if floor := seen.Add(time.Microsecond); stamp.Before(floor) {
		stamp = floor
	}
	if _, err := s.db.NewUpdate().Table(table).Set("file_permissions_last_set = NULL").
		Set("privacy_last_changed = CASE WHEN privacy_last_changed < ? THEN ? ELSE privacy_last_changed END", stamp, stamp).
		Where("id = ?", id).Exec(ctx); err != nil {
		s.log.ErrorContext(ctx, "could not mark permissions outdated", "id", id, "err", err)
	}
	s.cache.drop(id)
}

// leaseFor is how long a claim on an item lasts without renewal: short, so that an instance that
// died mid-sync delays its items by at most this; a live one renews it (heartbeat).
func (s *Service) leaseFor() time.Duration {
	if d := s.cfg.Permissions.Lease; d > 0 {
		return d
	}
	return DefaultPermissionConfig().Lease
}

// heartbeatEvery is how often a sync renews its leases: a third of the lease, so two renewals
// may fail (a slow database) before the lease runs out.
func (s *Service) heartbeatEvery() time.Duration {
	if d := s.cfg.Permissions.Heartbeat; d > 0 {
		return d
	}
	return max(s.leaseFor()/3, time.Millisecond)
}

// heartbeat renews this instance's leases on ids every heartbeatEvery until stop is called (stop
// waits for a renewal under way, and may be called more than once).
func (s *Service) heartbeat(ctx context.Context, ids []string) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.heartbeatEvery())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.renewLeases(ctx, ids)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// renewLeases moves the expiry of this instance's live leases on ids one lease past now. A lease
// another instance took over, or one released, is left alone.
func (s *Service) renewLeases(ctx context.Context, ids []string) {
	until := s.now().Add(s.leaseFor())
	if _, err := s.db.NewUpdate().Model((*models.PermissionSync)(nil)).Set("claimed_until = ?", until).
		Where("media_id IN (?) AND claimed_by = ? AND claimed_until IS NOT NULL", bun.In(ids), s.instance).Exec(ctx); err != nil {
		s.log.WarnContext(ctx, "permission sync: renew leases", "items", len(ids), "err", err)
	}
	s.hook("lease.renewed", strings.Join(ids, ","))
}

// leasedOutdated lists up to limit outdated items that a sync (of any instance, this one
// included) holds a live lease on, oldest ids first.
func (s *Service) leasedOutdated(ctx context.Context, limit int) ([]Lease, error) {
	now := s.now()
	var out []Lease
	for _, table := range []string{"documents", "images"} {
		var part []Lease
		if err := s.db.NewSelect().TableExpr(table+" AS m").
			ColumnExpr("m.id AS media_id, ps.claimed_by, ps.claimed_until").
			Join("JOIN permission_sync AS ps ON ps.media_id = m.id").
			Where(outdatedWhere). // its columns exist only on m
			Where("ps.claimed_until > ?", now).
			OrderExpr("m.id").Limit(limit-len(out)).Scan(ctx, &part); err != nil {
			return nil, fmt.Errorf("media: list leased %s: %w", table, err)
		}
		out = append(out, part...)
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// lease claims ids for this instance whatever their state (their privacy just changed, so they must
// be synced now) and reports which ones another instance held a live lease on.
func (s *Service) lease(ctx context.Context, ids []string) (contended map[string]bool, err error) {
	now := s.now()
	var held []string
	if err := s.db.NewSelect().Model((*models.PermissionSync)(nil)).Column("media_id").
		Where("media_id IN (?) AND claimed_until > ? AND claimed_by <> ?", bun.In(ids), now, s.instance).Scan(ctx, &held); err != nil {
		return nil, fmt.Errorf("media: read leases: %w", err)
	}
	contended = map[string]bool{}
	for _, id := range held {
		contended[id] = true
	}
	return contended, s.upsertLeases(ctx, s.db.DB, ids, now)
}

func (s *Service) upsertLeases(ctx context.Context, db bun.IDB, ids []string, now time.Time) error {
	rows := make([]models.PermissionSync, len(ids))
	until := now.Add(s.leaseFor())
	for i, id := range ids {
		rows[i] = models.PermissionSync{MediaID: id, ClaimedBy: s.instance, ClaimedUntil: &until}
	}
	_, err := db.NewInsert().Model(&rows).
		On("CONFLICT (media_id) DO UPDATE").
		Set("claimed_by = EXCLUDED.claimed_by, claimed_until = EXCLUDED.claimed_until").Exec(ctx)
	if err != nil {
		return fmt.Errorf("media: lease items: %w", err)
	}
	return nil
}

// outdatedWhere selects the items of a media table whose file permissions may be outdated.
const outdatedWhere = models.PermissionsOutdatedSQL

// claimOutdated leases up to limit outdated items no live lease covers, oldest ids first, in one
// short transaction. On Postgres the candidate rows are locked FOR UPDATE SKIP LOCKED, so two
// instances claiming at the same moment pick disjoint candidates without waiting for each other; on
// SQLite the transaction holds the database's single write lock (BEGIN IMMEDIATE), which
// serialises claims the same way. Either way the lease itself is an upsert that takes over only an
// absent or expired lease and returns what it took: a candidate another instance leased between our
// snapshot and our write is not ours.
//
// Items attempted at or after notTriedSince are skipped, so one round of retries tries each item
// once.
func (s *Service) claimOutdated(ctx context.Context, limit int, notTriedSince time.Time) ([]string, error) {
	var claimed []string
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		claimed = claimed[:0]
		now := s.now()
		var candidates []string
		for _, table := range []string{"documents", "images"} {
			if len(candidates) >= limit {
				break
			}
			var part []string
			q := tx.NewSelect().Table(table).Column("id").Where(outdatedWhere).
				Where("NOT EXISTS (SELECT 1 FROM permission_sync AS ps WHERE ps.media_id = "+table+".id AND (ps.claimed_until > ? OR ps.last_attempt_at >= ?))", now, notTriedSince).
				OrderExpr("id").Limit(limit - len(candidates))
			if s.db.Dialect == models.Postgres {
				q = q.For("UPDATE SKIP LOCKED")
			}
			if err := q.Scan(ctx, &part); err != nil {
				return fmt.Errorf("media: find outdated %s: %w", table, err)
			}
			candidates = append(candidates, part...)
		}
		if len(candidates) == 0 {
			return nil
		}
		var sql strings.Builder
		args := make([]any, 0, 3*len(candidates)+1)
		until := now.Add(s.leaseFor())
		sql.WriteString("INSERT INTO permission_sync (media_id, attempts, last_error, claimed_by, claimed_until) VALUES ")
		for i, id := range candidates {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, 0, '', ?, ?)")
			args = append(args, id, s.instance, until)
		}
		sql.WriteString(" ON CONFLICT (media_id) DO UPDATE SET claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until" +
			" WHERE permission_sync.claimed_until IS NULL OR permission_sync.claimed_until <= ? RETURNING media_id")
		args = append(args, now)
		rows, err := tx.QueryContext(ctx, sql.String(), args...)
		if err != nil {
			return fmt.Errorf("media: lease outdated items: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("media: lease outdated items: %w", err)
			}
			claimed = append(claimed, id)
		}
		return rows.Err()
	})
	return claimed, err
}

// release ends this instance's leases on ids: items that succeeded lose their bookkeeping row;
// failed and contended ones keep it with the attempt count and first error, ready for the retry
// loop. A lease another instance took over meanwhile is left alone.
func (s *Service) release(ctx context.Context, items map[string]*syncItem, ids []string) {
	var ok []string
	byErr := map[string][]string{}
	for _, id := range ids {
		it := items[id]
		switch {
		case it == nil && items != nil: // deleted meanwhile: nothing left to set
			ok = append(ok, id)
		case it == nil:
			byErr["could not load the item"] = append(byErr["could not load the item"], id)
		case it.failed > 0:
			byErr[it.firstErr] = append(byErr[it.firstErr], id)
		case it.contended:
			byErr[errContended] = append(byErr[errContended], id)
		default:
			ok = append(ok, id)
		}
	}
	if len(ok) > 0 {
		if _, err := s.db.NewDelete().Model((*models.PermissionSync)(nil)).
			Where("media_id IN (?) AND claimed_by = ?", bun.In(ok), s.instance).Exec(ctx); err != nil {
			s.log.ErrorContext(ctx, "permission sync: release leases", "err", err)
		}
	}
	now := s.now()
	for msg, set := range byErr {
		if _, err := s.db.NewUpdate().Model((*models.PermissionSync)(nil)).
			Set("attempts = attempts + 1").Set("last_error = ?", msg).Set("last_attempt_at = ?", now).
			Set("claimed_by = ''").Set("claimed_until = NULL").
			Where("media_id IN (?) AND claimed_by = ?", bun.In(set), s.instance).Exec(ctx); err != nil {
			s.log.ErrorContext(ctx, "permission sync: record failures", "err", err)
		}
	}
}

// Outdated returns up to limit ids of items whose file permissions may not match their privacy,
// oldest ids first (documents, then images).
func (s *Service) Outdated(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	for _, table := range []string{"documents", "images"} {
		var part []string
		err := s.db.NewSelect().Table(table).Column("id").Where(outdatedWhere).
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

// OutdatedItem is an item whose file permissions may not match its privacy, with the outcome of
// its last attempt.
type OutdatedItem struct {
	MediaID                string         `bun:"id"`
	CollectionID           string         `bun:"collection_id"`
	Privacy                models.Privacy `bun:"privacy"`
	PrivacyLastChanged     time.Time      `bun:"privacy_last_changed"`
	FilePermissionsLastSet *time.Time     `bun:"file_permissions_last_set"`
	Attempts               int            `bun:"attempts"`
	LastError              *string        `bun:"last_error"`
	LastAttemptAt          *time.Time     `bun:"last_attempt_at"`
	ClaimedUntil           *time.Time     `bun:"claimed_until"`
}

// Syncing reports whether an instance holds a live lease on the item.
func (o *OutdatedItem) Syncing(now time.Time) bool {
	return o.ClaimedUntil != nil && o.ClaimedUntil.After(now)
}

// ListOutdated pages through the items with outdated file permissions that the viewer may read,
// in id order (documents before images), each with its last error. It needs PUBLISH.
func (s *Service) ListOutdated(ctx context.Context, p PageRequest) (Page[*OutdatedItem], error) {
	if err := requirePublish(ctx); err != nil {
		return Page[*OutdatedItem]{}, err
	}
	n, after, err := p.validate()
	if err != nil {
		return Page[*OutdatedItem]{}, err
	}
	var all []*OutdatedItem
	for _, table := range []string{"documents", "images"} {
		var part []*OutdatedItem
		q := s.db.NewSelect().TableExpr(table + " AS m").
			ColumnExpr("m.id, m.collection_id, m.privacy, m.privacy_last_changed, m.file_permissions_last_set").
			ColumnExpr("COALESCE(ps.attempts, 0) AS attempts, NULLIF(ps.last_error, '') AS last_error, ps.last_attempt_at, ps.claimed_until").
			Join("LEFT JOIN permission_sync AS ps ON ps.media_id = m.id").
			Where(outdatedWhere). // its columns exist only on m
			OrderExpr("m.id").Limit(n + 1)
		q = auth.ViewerFrom(ctx).ReadFilter(q)
		if after != "" {
			q = q.Where("m.id > ?", after)
		}
		if err := q.Scan(ctx, &part); err != nil {
			return Page[*OutdatedItem]{}, fmt.Errorf("media: list outdated %s: %w", table, err)
		}
		all = append(all, part...)
	}
	page := Page[*OutdatedItem]{HasPrevious: after != ""}
	if len(all) > n {
		all, page.HasNextPage = all[:n], true
	}
	page.Items = all
	return page, nil
}

// RetryOutdated claims up to batch outdated items (see claimOutdated) and sets their file
// permissions again with the same bulk logic as a publish. With dryRun it only reports which
// items it would retry, claiming nothing.
// It needs PUBLISH; batch is 1 to 10,000.
func (s *Service) RetryOutdated(ctx context.Context, batch int, dryRun bool) (SyncReport, []string, error) {
	if err := requirePublish(ctx); err != nil {
		return SyncReport{}, nil, err
	}
	if batch < 1 || batch > 10_000 {
		return SyncReport{}, nil, inputErr("limit", "must be between 1 and 10000, got %d", batch)
	}
	rep, ids, err := s.retryOutdated(ctx, batch, dryRun, s.now())
	if err != nil {
		return rep, ids, err
	}
	return rep, ids, s.noteLeased(ctx, &rep, batch, dryRun)
}

// noteLeased adds to rep the outdated items a retry left alone because a sync holds them (see
// SyncReport.Leased), so that a retry never reports "0 items" while items wait on a lease. A dry
// run lists them among its items already; it only names their holders.
func (s *Service) noteLeased(ctx context.Context, rep *SyncReport, limit int, dryRun bool) error {
	leased, err := s.leasedOutdated(ctx, limit)
	if err != nil {
		return err
	}
	rep.Leased = leased
	if !dryRun {
		rep.Contended += len(leased)
	}
	return nil
}

func (s *Service) retryOutdated(ctx context.Context, batch int, dryRun bool, roundStart time.Time) (SyncReport, []string, error) {
	if dryRun {
		ids, err := s.Outdated(ctx, batch)
		return SyncReport{Items: len(ids)}, ids, err
	}
	ids, err := s.claimOutdated(ctx, batch, roundStart)
	if err != nil || len(ids) == 0 {
		return SyncReport{}, nil, err
	}
	rep := s.syncLeased(WithCause(context.WithoutCancel(ctx), "", "retry"), ids, nil)
	s.log.InfoContext(ctx, "retried outdated file permissions", "items", rep.Items, "files", rep.Files, "failed", rep.Failed)
	return rep, ids, nil
}

// RetryAll runs RetryOutdated in batches until every outdated item no other instance holds has been
// tried once, or a whole batch failed (the storage is down: wait for the next round), and sums the
// reports.
//
// Outdated items a sync holds a live lease on are not tried: they are counted as contended and
// listed in Leased (at most 10,000), with their holder and the expiry after which any retry takes
// them.
func (s *Service) RetryAll(ctx context.Context, batch int) (SyncReport, error) {
	var total SyncReport
	start := s.now()
	for ctx.Err() == nil {
		rep, _, err := s.retryOutdated(ctx, batch, false, start)
		total.Items += rep.Items
		total.Files += rep.Files
		total.Failed += rep.Failed
		total.Contended += rep.Contended
		if err != nil {
			return total, err
		}
		if rep.Items < batch || rep.Failed == rep.Items {
			return total, s.noteLeased(ctx, &total, 10_000, false)
		}
	}
	return total, ctx.Err()
}

// RunRetryLoop retries outdated file permissions every interval until ctx is done. When a round
// leaves items to a sync's lease, the next round comes as soon as the first of those leases
// expires, if that is sooner: the items of an instance that died mid-sync are retried within one
// lease (VEIL_PERMISSION_LEASE), not one interval. The caller owns it (run it in a goroutine,
// cancel ctx to stop).
func (s *Service) RunRetryLoop(ctx context.Context, interval time.Duration, batch int) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rep, err := s.RetryAll(ctx, batch)
			if err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "permission retry", "err", err)
			}
			t.Reset(nextRetry(interval, s.now(), rep.Leased))
		}
	}
}

// nextRetry is how long the retry loop waits: interval, or less when a lease it left alone
// expires sooner (just after its expiry).
func nextRetry(interval time.Duration, now time.Time, leased []Lease) time.Duration {
	next := interval
	for _, l := range leased {
		if d := l.Expires.Sub(now) + 10*time.Millisecond; d < next {
			next = max(d, 10*time.Millisecond)
		}
	}
	return next
}
