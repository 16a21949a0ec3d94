package server_test

// Issue 6's permission-sync tests: 10% of storage calls failing, the retry converging over the
// GraphQL API, and two instances' retry loops never working on the same item at once.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// recordingACL passes calls to a real driver and records every outcome, so a test knows which
// calls failed independently of what Veil reports.
type recordingACL struct {
	media.PermissionSetter
	mu     sync.Mutex
	failed map[string]int // key → failed calls
	ok     map[string]int // key → successful calls
}

func newRecordingACL(inner media.PermissionSetter) *recordingACL {
	return &recordingACL{PermissionSetter: inner, failed: map[string]int{}, ok: map[string]int{}}
}

func (r *recordingACL) SetPublic(ctx context.Context, key string, public bool) error {
	err := r.PermissionSetter.SetPublic(ctx, key, public)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed[key]++
	} else {
		r.ok[key]++
	}
	return err
}

// itemOfKey returns the media id inside an object key (originals/<id>/…, renditions/<id>/…).
func itemOfKey(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// collectEvents gathers every permission event of the server's bus until stop is called.
func collectEvents(t *testing.T, srv *veiltest.Server) (stop func() []events.Event) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := srv.Media.Bus().Subscribe(ctx, func(ev events.Event) bool {
		return ev.Kind == events.FilePermission || ev.Kind == events.ItemPermissions
	}, 1<<16)
	return func() []events.Event {
		cancel()
		var evs []events.Event
		for ev := range ch {
			evs = append(evs, ev)
		}
		return evs
	}
}

// outdatedNode is one item of outdatedFilePermissions.
type outdatedNode struct {
	MediaID   string
	Privacy   string
	Attempts  int
	LastError *string
	Syncing   bool
	Media     *struct{ ID string }
}

// outdatedPage is one page of outdatedFilePermissions.
type outdatedPage struct {
	OutdatedFilePermissions struct {
		Nodes    []outdatedNode
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

// listOutdated pages through outdatedFilePermissions, 7 at a time to cross page boundaries.
func listOutdated(t *testing.T, srv *veiltest.Server) map[string]outdatedNode {
	t.Helper()
	out := map[string]outdatedNode{}
	var after any
	for {
		var page outdatedPage
		srv.GraphQL(`query($after: String) { outdatedFilePermissions(first: 7, after: $after) {
			nodes { mediaId privacy attempts lastError syncing media { id } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}).Decode(t, &page)
		for _, n := range page.OutdatedFilePermissions.Nodes {
			if _, dup := out[n.MediaID]; dup {
				t.Fatalf("outdatedFilePermissions listed %s twice", n.MediaID)
			}
			out[n.MediaID] = n
		}
		if !page.OutdatedFilePermissions.PageInfo.HasNextPage {
			return out
		}
		after = *page.OutdatedFilePermissions.PageInfo.EndCursor
	}
}

// TestPermissionFaultsConverge: with 10% of storage calls failing, a publish of 200 images (1,000
// files) completes; exactly the items with a failed call are outdated, listed with their error;
// events report every failure; a retry over GraphQL converges to nothing outdated, and events report
// the later success.
func TestPermissionFaultsConverge(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		mem := storage.NewMemACL(storage.MemACLOptions{FailRate: 0.10, Seed: 6})
		acl := newRecordingACL(mem)
		cfg := media.DefaultConfig()
		cfg.Permissions.Retries = 0 // every injected failure is final within the sync
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{ACL: acl, Media: &cfg})
		ids := seedImages(t, srv, 200)
		ownKeys(t, srv)
		seedRenditions(t, srv, ids, 4)
		ctx := auth.WithViewer(context.Background(), auth.System)
		// Seeded rows were never given permissions: settle them first, without faults.
		mem.SetFail(func(string, bool) error { return nil })
		if rep, err := srv.Media.RetryAll(ctx, 1000); err != nil || rep.Failed != 0 {
			t.Fatalf("settling seeds: %+v %v", rep, err)
		}
		mem.SetFail(nil) // back to FailRate
		acl.mu.Lock()
		acl.failed, acl.ok = map[string]int{}, map[string]int{}
		acl.mu.Unlock()

		refs := make([]map[string]any, len(ids))
		for i, id := range ids {
			refs[i] = map[string]any{"mediaId": id, "field": "body"}
		}
		var up struct{ UpsertContent struct{ ID string } }
		srv.GraphQL(`mutation($in: UpsertContentInput!) { upsertContent(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"kind": "page", "key": "faults", "references": refs}}).Decode(t, &up)

		stop := collectEvents(t, srv)
		var pub struct{ PublishContent struct{ MadePublic []string } }
		srv.GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": up.UpsertContent.ID}).Decode(t, &pub)
		if len(pub.PublishContent.MadePublic) != len(ids) {
			t.Fatalf("made public %d, want %d", len(pub.PublishContent.MadePublic), len(ids))
		}
		evs := stop()

		acl.mu.Lock()
		failedItems := map[string]bool{}
		for key := range acl.failed {
			failedItems[itemOfKey(key)] = true
		}
		calls := 0
		for _, n := range acl.failed {
			calls += n
		}
		for _, n := range acl.ok {
			calls += n
		}
		nFailedCalls := len(acl.failed)
		acl.mu.Unlock()
		if calls != len(ids)*5 {
			t.Fatalf("the batch made %d calls, want %d (it must not stop at failures)", calls, len(ids)*5)
		}
		if nFailedCalls < 60 || nFailedCalls > 140 {
			t.Fatalf("%d of 1000 calls failed: the 10%% injection is not working", nFailedCalls)
		}

		// Exactly the failed items are outdated, each with its error, after one attempt.
		outdated := listOutdated(t, srv)
		if len(outdated) != len(failedItems) {
			t.Errorf("%d items outdated, %d had a failed call", len(outdated), len(failedItems))
		}
		for id := range failedItems {
			n, ok := outdated[id]
			switch {
			case !ok:
				t.Errorf("%s had a failed call but is not listed as outdated", id)
			case n.Attempts != 1 || n.LastError == nil || !strings.Contains(*n.LastError, id) || !strings.Contains(*n.LastError, "injected failure"):
				t.Errorf("%s: attempts %d, lastError %v", id, n.Attempts, n.LastError)
			case n.Privacy != "PUBLIC" || n.Syncing || n.Media == nil || n.Media.ID != id:
				t.Errorf("%s: %+v", id, n)
			}
		}

		// Events: one per file, failures with their error, and a completion per item.
		fileEv, itemEv := map[string]events.Event{}, map[string]events.Event{}
		for _, ev := range evs {
			if ev.Kind == events.FilePermission {
				fileEv[ev.Key] = ev
			} else {
				itemEv[ev.MediaID] = ev
			}
		}
		if len(fileEv) != len(ids)*5 || len(itemEv) != len(ids) {
			t.Fatalf("events: %d files, %d items; want %d and %d", len(fileEv), len(itemEv), len(ids)*5, len(ids))
		}
		for key, ev := range fileEv {
			if _, failed := acl.failed[key]; failed == ev.OK || (!ev.OK && ev.Error == "") || ev.Attempt != 1 || ev.Cause != "publish" {
				t.Errorf("file event %s: %+v", key, ev)
			}
		}
		for id, ev := range itemEv {
			if ev.OK == failedItems[id] || ev.Files != 5 {
				t.Errorf("item event %s: %+v", id, ev)
			}
		}

		// A dry run lists the same items and changes nothing.
		var dry struct {
			RetryFilePermissions struct {
				Items    int
				DryRun   bool
				MediaIds []string
			}
		}
		srv.GraphQL(`mutation { retryFilePermissions(dryRun: true) { items dryRun mediaIds } }`, nil).Decode(t, &dry)
		if d := dry.RetryFilePermissions; !d.DryRun || d.Items != len(failedItems) || !sameSet(d.MediaIds, keys(failedItems)) {
			t.Errorf("dry run: %+v, want %d items", d, len(failedItems))
		}
		if got := listOutdated(t, srv); len(got) != len(failedItems) {
			t.Errorf("after the dry run %d outdated, want %d", len(got), len(failedItems))
		}

		// The storage recovers; the retry converges.
		mem.SetFail(func(string, bool) error { return nil })
		stop = collectEvents(t, srv)
		var retry struct {
			RetryFilePermissions struct{ Items, Files, Failed int }
		}
		srv.GraphQL(`mutation { retryFilePermissions(limit: 1000) { items files failed } }`, nil).Decode(t, &retry)
		evs = stop()
		if r := retry.RetryFilePermissions; r.Items != len(failedItems) || r.Files != len(failedItems)*5 || r.Failed != 0 {
			t.Errorf("retry: %+v, want %d items", r, len(failedItems))
		}
		if got := listOutdated(t, srv); len(got) != 0 {
			t.Errorf("after the retry %d items still outdated", len(got))
		}
		success := map[string]bool{}
		for _, ev := range evs {
			if ev.Kind == events.ItemPermissions && ev.OK && ev.Cause == "retry" && ev.Attempt == 2 {
				success[ev.MediaID] = true
			}
		}
		if !sameSet(keys(success), keys(failedItems)) {
			t.Errorf("retry success events for %d items, want the %d that failed", len(success), len(failedItems))
		}
		for _, id := range ids {
			for _, key := range filesOf(t, srv, id) {
				if public, known := mem.State(key); !known || !public {
					t.Fatalf("%s is not public in storage after convergence", key)
				}
			}
		}
		var rows int
		_ = srv.DB.NewSelect().Model((*models.PermissionSync)(nil)).ColumnExpr("count(*)").Scan(context.Background(), &rows)
		if rows != 0 {
			t.Errorf("%d permission_sync rows left after convergence", rows)
		}
	})
}

// TestRetryFilePermissionsInput: bad limits are refused, and only PUBLISH holders may retry or list.
func TestRetryFilePermissionsInput(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, limit := range []int{0, -1, 10_001, 1 << 40} {
		if got := srv.GraphQL(`mutation($n: Int) { retryFilePermissions(limit: $n) { items } }`, map[string]any{"n": limit}); got.Code() != "BAD_USER_INPUT" {
			t.Errorf("limit %d: %s", limit, got.Raw)
		}
	}
	for _, q := range []string{`mutation { retryFilePermissions { items } }`, `{ outdatedFilePermissions { nodes { mediaId } } }`} {
		if got := srv.As("").GraphQL(q, nil); got.Code() != "UNAUTHENTICATED" {
			t.Errorf("anonymous %s: %s", q, got.Raw)
		}
	}
	if got := srv.GraphQL(`{ outdatedFilePermissions(first: 5, after: "bm90LWEtY3Vyc29y") { nodes { mediaId } } }`, nil); got.Code() != "BAD_USER_INPUT" {
		t.Errorf("hostile cursor: %s", got.Raw)
	}
	if got := srv.GraphQL(`{ outdatedFilePermissions(first: 101) { nodes { mediaId } } }`, nil); got.Code() != "BAD_USER_INPUT" {
		t.Errorf("first: 101: %s", got.Raw)
	}
}

// overlapACL detects two instances working on the same item at once: it tracks which caller has
// calls in flight for each item, with a little latency to widen every window.
type overlapACL struct {
	name string
	log  *overlapLog
}

type overlapLog struct {
	mu       sync.Mutex
	inFlight map[string]map[string]int // item → caller → calls in flight
	byCaller map[string]map[string]bool
	clashes  []string
	calls    int
}

func (o *overlapACL) Name() string { return "overlap-detector (test)" }

func (o *overlapACL) SetPublic(ctx context.Context, key string, public bool) error {
	item := itemOfKey(key)
	l := o.log
	l.mu.Lock()
	if l.inFlight[item] == nil {
		l.inFlight[item] = map[string]int{}
	}
	for other, n := range l.inFlight[item] {
		if other != o.name && n > 0 {
			l.clashes = append(l.clashes, item)
		}
	}
	l.inFlight[item][o.name]++
	if l.byCaller[o.name] == nil {
		l.byCaller[o.name] = map[string]bool{}
	}
	l.byCaller[o.name][item] = true
	l.calls++
	l.mu.Unlock()
	time.Sleep(time.Millisecond)
	l.mu.Lock()
	l.inFlight[item][o.name]--
	l.mu.Unlock()
	return nil
}

// TestRetryLoopsNeverOverlap: two instances (separate connection pools on one database, one bucket)
// run their retry loops at the same moment, two rounds each in parallel, over 400 outdated items:
// every item is set exactly once (5 files), never by both, and nothing is left outdated. On Postgres
// the claims race through FOR UPDATE SKIP LOCKED; on SQLite through the write lock.
func TestRetryLoopsNeverOverlap(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dbURL := ""
			if engine == "sqlite" {
				dbURL = veiltest.SQLiteURL(t)
			} else {
				dbURL = veiltest.PostgresURL(t)
			}
			openDB := func() *models.DB { return veiltest.Open(t, dbURL) }
			log := &overlapLog{inFlight: map[string]map[string]int{}, byCaller: map[string]map[string]bool{}}
			a := veiltest.NewServer(t, openDB(), &veiltest.ServerOptions{ACL: &overlapACL{name: "a", log: log}})
			ids := seedImages(t, a, 400)
			ownKeys(t, a)
			seedRenditions(t, a, ids, 4)
			if _, err := a.DB.NewUpdate().Table("images").Set("file_permissions_last_set = NULL").Where("1 = 1").Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			log.mu.Lock() // forget the upload's own call in seedImages
			log.byCaller, log.calls = map[string]map[string]bool{}, 0
			log.mu.Unlock()
			cfg := media.DefaultConfig()
			cfg.Permissions.Workers = 8
			b := media.New(cfg, media.Deps{DB: openDB(), Store: a.Store, ACL: &overlapACL{name: "b", log: log}})

			ctx := auth.WithViewer(context.Background(), auth.System)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for _, svc := range []*media.Service{a.Media, b, a.Media, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := svc.RetryAll(ctx, 25); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if len(log.clashes) > 0 {
				t.Fatalf("%d times two instances set files of the same item at once (e.g. %s)", len(log.clashes), log.clashes[0])
			}
			for item := range log.byCaller["a"] {
				if log.byCaller["b"][item] {
					t.Errorf("%s was processed by both instances", item)
				}
			}
			if log.calls != len(ids)*5 {
				t.Errorf("%d calls, want %d: every file once", log.calls, len(ids)*5)
			}
			if len(log.byCaller["a"]) == 0 || len(log.byCaller["b"]) == 0 {
				t.Logf("one instance claimed everything (a: %d, b: %d items): no contention this run", len(log.byCaller["a"]), len(log.byCaller["b"]))
			}
			if left, err := a.Media.Outdated(ctx, 1000); err != nil || len(left) != 0 {
				t.Errorf("outdated after both loops: %d %v", len(left), err)
			}
		})
	}
}

// ownKeys gives every seeded image an original key of its own (seedImages copies one row, key and
// all), so tests can tell items apart by key. The drivers here never read the objects.
func ownKeys(t *testing.T, srv *veiltest.Server) {
	t.Helper()
	if _, err := srv.DB.NewUpdate().Table("images").Set("storage_key = 'originals/' || id || '/seed.webp'").Where("1 = 1").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// filesOf lists the object keys of an image: its original and its renditions.
func filesOf(t *testing.T, srv *veiltest.Server, id string) []string {
	t.Helper()
	var keys []string
	ctx := context.Background()
	var img models.Image
	if err := srv.DB.NewSelect().Model(&img).Where("id = ?", id).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, img.StorageKey)
	var rk []string
	if err := srv.DB.NewSelect().Model((*models.Rendition)(nil)).Column("storage_key").Where("image_id = ?", id).Scan(ctx, &rk); err != nil {
		t.Fatal(err)
	}
	return append(keys, rk...)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDeletingMediaDropsItsPermissionRecord: an item whose permissions failed keeps its last error
// until it is deleted; deleting it leaves no bookkeeping behind.
func TestDeletingMediaDropsItsPermissionRecord(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		mem := storage.NewMemACL(storage.MemACLOptions{})
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{ACL: mem})
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)
		doc := srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf")), nil)
		mem.SetFail(func(string, bool) error { return storage.ErrUnavailable })
		ctx := auth.WithViewer(context.Background(), auth.System)
		c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "del", References: []media.ReferenceInput{{MediaID: img.ID}, {MediaID: doc.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Media.PublishContent(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			n, err := srv.DB.NewSelect().Model((*models.PermissionSync)(nil)).Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(); n != 2 {
			t.Fatalf("%d permission records after the failed sync, want 2", n)
		}
		srv.GraphQL(`mutation($i: ID!, $d: ID!) { a: deleteImage(id: $i, force: true) { deletedId } b: deleteDocument(id: $d, force: true) { deletedId } }`,
			map[string]any{"i": img.ID, "d": doc.ID}).Decode(t, &struct{}{})
		if n := count(); n != 0 {
			t.Errorf("%d permission records left after deleting the items", n)
		}
	})
}
