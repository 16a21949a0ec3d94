package media

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"gocloud.dev/blob"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// ReconcileOptions govern one reconciliation.
type ReconcileOptions struct {
	// Grace is how old an object or a pending upload must be before it may be judged debris
	// (VEIL_RECONCILE_GRACE, default 1h; 0 is allowed, for tests and a stopped cluster): longer
	// than the longest upload and rendition take.
	Grace time.Duration
	// DryRun reports without removing anything.
	DryRun bool
	// PageSize is how many objects one bucket listing page holds (default 1000).
	PageSize int
}

// DefaultReconcileGrace is ReconcileOptions.Grace by default.
const DefaultReconcileGrace = time.Hour

// MissingObject is a row whose object is not in the bucket.
type MissingObject struct {
	Table, ID, Key string
}

// ReconcileReport says what a reconciliation found and (unless DryRun) did.
type ReconcileReport struct {
	DryRun bool
	// Scanned is how many objects the bucket listing held.
	Scanned int
	// Orphans are the objects no row references (uploads and renditions whose process died
	// between the write and the insert, partial .tmp files of a folder bucket), removed.
	Orphans      []string
	OrphanBytes  int64
	Probes       int // .veil-probe leftovers removed (also counted in Orphans)
	StalePending int // pending-upload records of dead uploads cleared
	// Missing are rows of originals and documents whose object is not in the bucket: reported,
	// never removed (the item's metadata may still matter to someone).
	Missing []MissingObject
	// RenditionRowsRemoved are rendition rows whose object was missing: removed, since a
	// rendition is regenerated from its original on the next request.
	RenditionRowsRemoved int
	// InFlight is how many unreferenced objects were left alone because they are younger than
	// the grace or an upload is still writing them.
	InFlight int
	// Foreign is how many objects lie outside the prefixes Veil writes: never touched.
	Foreign int
	// StagedExpired is how many presigned uploads past their expiry were removed (row and staged
	// bytes); StagedOrphans are staging objects without an upload row, removed (also in Orphans).
	StagedExpired int
	StagedOrphans int
	// ExpiredUploads is how many resumable uploads past their expiry were removed with their
	// parts.
	ExpiredUploads int
}

// tmpSuffix matches the name fileblob gives a file while it is written (<key>.<hex nanos>.tmp).
var tmpSuffix = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// Reconcile makes the bucket and the database agree after crashes. It lists the bucket page by
// page and removes every object under Veil's prefixes that no row references and no live upload
// is writing, once it is older than opts.Grace: objects of uploads or renditions whose process
// died between the write and the insert, partial .tmp files, and .veil-probe leftovers. It clears
// pending-upload records older than the grace (with their object, if any), reports rows whose
// object is missing (originals and documents are only reported; rendition rows are removed, to be
// regenerated) and logs every removal. Objects outside Veil's prefixes are never touched.
//
// It is safe while uploads run: an upload records its key before the first byte (notePending)
// and ends that record in the transaction that inserts its row; the reconciler takes the record
// before it removes an object, so an upload whose record was taken fails instead of committing a
// row for a removed object. It needs no viewer: it is an operator's command and a background job.
func (s *Service) Reconcile(ctx context.Context, opts ReconcileOptions) (ReconcileReport, error) {
	rep := ReconcileReport{DryRun: opts.DryRun}
	start := time.Now().UTC()
	cutoff := start.Add(-opts.Grace)
	pageSize := opts.PageSize
	if pageSize <= 0 {
		pageSize = 1000
	}
	seen := newKeySet()
	token := blob.FirstPageToken
	for {
		objs, next, err := s.store.Bucket.ListPage(ctx, token, pageSize, nil)
		if err != nil {
			return rep, fmt.Errorf("media: reconcile: list bucket: %w", storage.Classify(err))
		}
		if err := s.reconcilePage(ctx, objs, cutoff, seen, &rep); err != nil {
			return rep, err
		}
		if len(next) == 0 {
			break
		}
		token = next
	}
	if err := s.reconcilePending(ctx, cutoff, &rep); err != nil {
		return rep, err
	}
	if err := s.reconcileStaged(ctx, start, cutoff, &rep); err != nil {
		return rep, err
	}
	if err := s.reconcileMissing(ctx, cutoff, seen, &rep); err != nil {
		return rep, err
	}
	expired, err := s.reapResumable(ctx, start, opts.DryRun)
	if err != nil {
		return rep, err
	}
	rep.ExpiredUploads = expired
	s.log.InfoContext(ctx, "reconciled bucket and database", "dry_run", opts.DryRun, "scanned", rep.Scanned,
		"orphans", len(rep.Orphans), "orphan_bytes", rep.OrphanBytes, "probes", rep.Probes, "stale_pending", rep.StalePending,
		"missing", len(rep.Missing), "rendition_rows_removed", rep.RenditionRowsRemoved, "in_flight", rep.InFlight, "foreign", rep.Foreign,
		"staged_expired", rep.StagedExpired, "staged_orphans", rep.StagedOrphans, "expired_uploads", rep.ExpiredUploads,
		"took", time.Since(start).Round(time.Millisecond).String())
	return rep, nil
}

// isProbe reports a probe object (storage.Store.Probe) or one of an older layout (.veil-probe/).
func isProbe(key string) bool {
	return strings.HasPrefix(key, ".veil-probe") || strings.Contains(key, "/.veil-probe-")
}

func ownPrefix(key string) bool {
	for _, p := range storage.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func (s *Service) reconcilePage(ctx context.Context, objs []*blob.ListObject, cutoff time.Time, seen *keySet, rep *ReconcileReport) error {
	var candidates []*blob.ListObject
	var keys []string // final keys to look up: a .tmp file's is the key it was being written to
	var staged []*blob.ListObject
	for _, o := range objs {
		if o.IsDir {
			continue
		}
		rep.Scanned++
		seen.add(o.Key)
		switch {
		case isProbe(o.Key):
			if o.ModTime.After(cutoff) {
				rep.InFlight++ // a probe running now
				continue
			}
			rep.Probes++
			s.removeOrphan(ctx, o, rep)
			continue
		case strings.HasPrefix(o.Key, storage.StagingPrefix):
			if !o.ModTime.After(cutoff) {
				staged = append(staged, o)
			}
			continue
		case !ownPrefix(o.Key):
			rep.Foreign++
			continue
		case o.ModTime.After(cutoff):
			continue // too young to judge; counted below if unreferenced
		}
		candidates = append(candidates, o)
		keys = append(keys, finalKey(o.Key))
	}
	if err := s.reconcileStagedObjects(ctx, staged, rep); err != nil {
		return err
	}
	if len(candidates) == 0 {
		return nil
	}
	// Pending records first, references second: an upload deletes its record in the transaction
	// that inserts its row, so a key with no record here has either committed (its row is visible
	// to the lookup that follows) or never had one.
	pending, err := s.pendingOf(ctx, keys)
	if err != nil {
		return err
	}
	refs, err := s.referenced(ctx, keys)
	if err != nil {
		return err
	}
	for i, o := range candidates {
		final := keys[i]
		isTmp := final != o.Key
		switch p, hasPending := pending[final]; {
		case refs[o.Key]:
			continue
		case isTmp && refs[final] && !hasPending:
			// a partial file beside a committed object: debris of a crashed rewrite
		case hasPending && p.After(cutoff):
			rep.InFlight++
			continue
		case hasPending && !isTmp:
			if !rep.DryRun {
				took, err := s.takePending(ctx, final, cutoff)
				if err != nil {
					return err
				}
				if !took {
					continue // committed or cleared meanwhile
				}
			}
			rep.StalePending++
		}
		s.removeOrphan(ctx, o, rep)
	}
	return nil
}

// reconcileStagedObjects removes staging objects older than the grace whose upload has no row
// (its row was removed while the object was being written, or a delete failed). Those with a row
// are the business of reconcileStaged, which removes them at their expiry.
func (s *Service) reconcileStagedObjects(ctx context.Context, objs []*blob.ListObject, rep *ReconcileReport) error {
	if len(objs) == 0 {
		return nil
	}
	ids := make([]string, len(objs))
	for i, o := range objs {
		ids[i] = strings.TrimSuffix(strings.TrimPrefix(finalKey(o.Key), storage.StagingPrefix), stagedCheckingSuffix)
	}
	live, err := s.liveStaged(ctx, ids)
	if err != nil {
		return err
	}
	for i, o := range objs {
		if live[ids[i]] {
			rep.InFlight++
			continue
		}
		rep.StagedOrphans++
		s.removeOrphan(ctx, o, rep)
	}
	return nil
}

// finalKey is the key a fileblob temp file was being written to, or key itself.
func finalKey(key string) string {
	if loc := tmpSuffix.FindStringIndex(key); loc != nil {
		return key[:loc[0]]
	}
	return key
}

func (s *Service) removeOrphan(ctx context.Context, o *blob.ListObject, rep *ReconcileReport) {
	rep.Orphans = append(rep.Orphans, o.Key)
	rep.OrphanBytes += o.Size
	if rep.DryRun {
		return
	}
	var err error
	if isProbe(o.Key) || finalKey(o.Key) != o.Key {
		err = s.store.Bucket.Delete(ctx, o.Key) // not Store.Delete: keep the prefix folders
	} else {
		err = s.store.Delete(ctx, o.Key)
	}
	if err != nil && !errors.Is(storage.Classify(err), storage.ErrNotFound) {
		s.log.ErrorContext(ctx, "reconcile: orphan not removed", "key", o.Key, "err", err)
		return
	}
	s.log.WarnContext(ctx, "reconcile: removed an object no row references", "key", o.Key, "bytes", o.Size, "modified", o.ModTime)
}

// pendingOf returns the creation time of the pending-upload records of keys.
func (s *Service) pendingOf(ctx context.Context, keys []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for _, batch := range batches(keys, 500) {
		var rows []models.PendingObject
		if err := s.db.NewSelect().Model(&rows).Where("storage_key IN (?)", bun.In(batch)).Scan(ctx); err != nil {
			return nil, fmt.Errorf("media: reconcile: read pending uploads: %w", err)
		}
		for _, r := range rows {
			out[r.StorageKey] = r.CreatedAt
		}
	}
	return out, nil
}

// referenced returns which of keys a media or rendition row names.
func (s *Service) referenced(ctx context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, batch := range batches(keys, 500) {
		for _, table := range []string{"images", "documents", "renditions"} {
			var found []string
			if err := s.db.NewSelect().Table(table).Column("storage_key").Where("storage_key IN (?)", bun.In(batch)).Scan(ctx, &found); err != nil {
				return nil, fmt.Errorf("media: reconcile: look up %s: %w", table, err)
			}
			for _, k := range found {
				out[k] = true
			}
		}
	}
	return out, nil
}

// takePending deletes key's pending record if it is still older than cutoff, reporting whether it
// did: the upload that wrote it can no longer commit a row for it.
func (s *Service) takePending(ctx context.Context, key string, cutoff time.Time) (bool, error) {
	res, err := s.db.NewDelete().Model((*models.PendingObject)(nil)).Where("storage_key = ? AND created_at <= ?", key, cutoff).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("media: reconcile: take pending upload %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// reconcilePending clears pending records older than cutoff that the listing did not reach: uploads
// that died before their first byte landed (or whose object the listing removed already), removing
// their object should one have appeared since.
func (s *Service) reconcilePending(ctx context.Context, cutoff time.Time, rep *ReconcileReport) error {
	var stale []models.PendingObject
	if err := s.db.NewSelect().Model(&stale).Where("created_at <= ?", cutoff).OrderExpr("storage_key").Limit(10_000).Scan(ctx); err != nil {
		return fmt.Errorf("media: reconcile: read stale pending uploads: %w", err)
	}
	for _, p := range stale {
		if rep.DryRun {
			rep.StalePending++
			continue
		}
		took, err := s.takePending(ctx, p.StorageKey, cutoff)
		if err != nil {
			return err
		}
		if !took {
			continue
		}
		rep.StalePending++
		refs, err := s.referenced(ctx, []string{p.StorageKey})
		if err != nil {
			return err
		}
		if !refs[p.StorageKey] {
			if err := s.store.Delete(ctx, p.StorageKey); err != nil {
				s.log.ErrorContext(ctx, "reconcile: object of a dead upload not removed", "key", p.StorageKey, "err", err)
			}
		}
		s.log.WarnContext(ctx, "reconcile: cleared the record of an upload that died", "key", p.StorageKey, "instance", p.Instance, "started", p.CreatedAt)
	}
	return nil
}

// reconcileMissing pages through the rows older than cutoff and reports those whose object the
// listing did not see; rendition rows among them are removed.
func (s *Service) reconcileMissing(ctx context.Context, cutoff time.Time, seen *keySet, rep *ReconcileReport) error {
	for _, table := range []string{"images", "documents", "renditions"} {
		after := ""
		for {
			var rows []struct {
				ID         string `bun:"id"`
				StorageKey string `bun:"storage_key"`
			}
			if err := s.db.NewSelect().Table(table).Column("id", "storage_key").
				Where("id > ? AND created_at <= ?", after, cutoff).OrderExpr("id").Limit(1000).Scan(ctx, &rows); err != nil {
				return fmt.Errorf("media: reconcile: page %s: %w", table, err)
			}
			var gone []string
			for _, r := range rows {
				if seen.has(r.StorageKey) {
					continue
				}
				if table == "renditions" {
					gone = append(gone, r.ID)
					continue
				}
				rep.Missing = append(rep.Missing, MissingObject{Table: table, ID: r.ID, Key: r.StorageKey})
				s.log.ErrorContext(ctx, "reconcile: a row's object is missing from the bucket", "table", table, "id", r.ID, "key", r.StorageKey)
			}
			if len(gone) > 0 {
				rep.RenditionRowsRemoved += len(gone)
				if !rep.DryRun {
					if _, err := s.db.NewDelete().Table("renditions").Where("id IN (?)", bun.In(gone)).Exec(ctx); err != nil {
						return fmt.Errorf("media: reconcile: remove rendition rows: %w", err)
					}
					s.log.WarnContext(ctx, "reconcile: removed rendition rows whose object is missing (regenerated on request)", "count", len(gone))
				}
			}
			if len(rows) < 1000 {
				break
			}
			after = rows[len(rows)-1].ID
		}
	}
	return nil
}

// keySet remembers the keys a listing saw as 64-bit hashes: a few bytes per object however long
// its key, so a bucket of millions fits. A collision can only hide a missing object (never make a
// present one look missing), with a chance of about n²/2⁶⁵.
type keySet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func newKeySet() *keySet { return &keySet{seed: maphash.MakeSeed(), m: map[uint64]struct{}{}} }

func (k *keySet) add(key string)      { k.m[maphash.String(k.seed, key)] = struct{}{} }
func (k *keySet) has(key string) bool { _, ok := k.m[maphash.String(k.seed, key)]; return ok }

func batches(keys []string, n int) [][]string {
	var out [][]string
	for len(keys) > n {
		out = append(out, keys[:n])
		keys = keys[n:]
	}
	if len(keys) > 0 {
		out = append(out, keys)
	}
	return out
}

// RunReconcileLoop reconciles now and then every interval until ctx is done (interval 0: only
// now). The caller owns it (run it in a goroutine, cancel ctx to stop).
func (s *Service) RunReconcileLoop(ctx context.Context, interval time.Duration, opts ReconcileOptions, firstDone func()) {
	for {
		if _, err := s.Reconcile(ctx, opts); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "reconcile", "err", err)
		}
		if firstDone != nil {
			firstDone()
			firstDone = nil
		}
		if interval <= 0 {
			return
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
