package media_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// fakeClock is a lease clock a test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock { c := &fakeClock{}; c.set(t); return c }
func (c *fakeClock) set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) now() time.Time       { return time.Unix(0, c.ns.Load()).UTC() }

// TestLeasesOfADeadHolderExpireWithinOneLease: instance B dies in the middle of a sync (its
// goroutine ends at the permission calls: no release, no more heartbeats). Until its lease expires,
// a manual retry on A (the service call and the retryFilePermissions mutation) reports B's items as
// contended with B as holder and the lease's expiry, never as 0 items; one lease after B's last
// renewal, A retries and settles them. A live B, blocked past its first lease, keeps its items:
// its heartbeat renews the lease. Clocks are moved by hand; nothing sleeps.
func TestLeasesOfADeadHolderExpireWithinOneLease(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		const lease = 30 * time.Second
		cfg := media.DefaultConfig()
		cfg.Permissions.Lease = lease
		cfg.Permissions.Heartbeat = time.Millisecond // real ticks; the lease clock is the fake one
		acl := storage.NewMemACL(storage.MemACLOptions{})
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{ACL: acl, Media: &cfg})
		a := srv.Media
		b := media.New(cfg, media.Deps{DB: db, Store: srv.Store, ACL: acl})
		t0 := time.Now().UTC().Truncate(time.Second)
		clockA, clockB := newFakeClock(t0), newFakeClock(t0)
		media.SetTestClock(a, clockA.now)
		media.SetTestClock(b, clockB.now)
		ctx := auth.WithViewer(context.Background(), auth.System)

		var ids []string
		for _, f := range []string{"photos/FreshFlower.jpg", "orientation/upright.jpg", "orientation/orientation-3.jpg"} {
			ids = append(ids, srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, f)), nil).ID)
		}
		markOutdated := func() {
			if _, err := db.NewUpdate().Table("images").Set("file_permissions_last_set = NULL").Where("id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		outdated := func() int {
			got, err := a.Outdated(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}

		// B dies at its permission calls.
		markOutdated()
		media.SetTestHook(b, func(point, _ string) {
			if point == "sync.acl" {
				runtime.Goexit()
			}
		})
		died := make(chan struct{})
		go func() { defer close(died); b.SyncPermissions(ctx, ids) }()
		<-died
		media.SetTestHook(b, nil)

		clockA.set(t0.Add(lease - time.Second))
		rep, tried, err := a.RetryOutdated(ctx, 500, false)
		if err != nil || rep.Items != 0 || len(tried) != 0 || rep.Contended != len(ids) || len(rep.Leased) != len(ids) {
			t.Fatalf("retry while B's lease lives: %+v %v %v", rep, tried, err)
		}
		for _, l := range rep.Leased {
			if l.Holder == "" || !l.Expires.Equal(t0.Add(lease)) {
				t.Errorf("lease %+v: want B as holder until %v", l, t0.Add(lease))
			}
		}
		var out struct {
			RetryFilePermissions struct {
				Items, Contended int
				Leased           []struct {
					MediaID, Holder string
					Expires         time.Time
				}
			}
		}
		srv.GraphQL(`mutation { retryFilePermissions { items contended leased { mediaId holder expires } } }`, nil).Decode(t, &out)
		if r := out.RetryFilePermissions; r.Items != 0 || r.Contended != len(ids) || len(r.Leased) != len(ids) || r.Leased[0].Holder != rep.Leased[0].Holder || !r.Leased[0].Expires.Equal(t0.Add(lease)) {
			t.Errorf("retryFilePermissions while B's lease lives: %+v", r)
		}
		if outdated() != len(ids) {
			t.Fatal("items settled while leased")
		}

		clockA.set(t0.Add(lease + time.Millisecond)) // one lease after B's last renewal
		rep, tried, err = a.RetryOutdated(ctx, 500, false)
		if err != nil || rep.Items != len(ids) || rep.Failed != 0 || rep.Contended != 0 || len(rep.Leased) != 0 || len(tried) != len(ids) {
			t.Fatalf("retry after B's lease expired: %+v %v %v", rep, tried, err)
		}
		if n := outdated(); n != 0 {
			t.Errorf("%d items still outdated after the retry", n)
		}

		// A live B blocked past its first lease keeps its items: the heartbeat renews the lease.
		markOutdated()
		t1 := t0.Add(time.Hour)
		clockB.set(t1)
		atACL, release := make(chan struct{}), make(chan struct{})
		renewed := make(chan struct{}, 1)
		var once sync.Once
		media.SetTestHook(b, func(point, _ string) {
			switch point {
			case "sync.acl":
				once.Do(func() { close(atACL) })
				<-release
			case "lease.renewed":
				select {
				case renewed <- struct{}{}:
				default:
				}
			}
		})
		synced := make(chan media.SyncReport, 1)
		go func() { synced <- b.SyncPermissions(ctx, ids) }()
		<-atACL
		clockB.set(t1.Add(2 * lease))
		// A renewal that started before the clock moved may still be under way: two more prove one
		// ran wholly after it.
		for range 3 {
			<-renewed
		}
		clockA.set(t1.Add(2*lease + time.Second)) // B's first lease is long gone; its renewal lives
		rep, _, err = a.RetryOutdated(ctx, 500, false)
		if err != nil || rep.Items != 0 || rep.Contended != len(ids) {
			t.Fatalf("retry while a live B works: %+v %v", rep, err)
		}
		for _, l := range rep.Leased {
			if !l.Expires.Equal(t1.Add(3 * lease)) {
				t.Errorf("lease %+v: want it renewed until %v", l, t1.Add(3*lease))
			}
		}
		close(release)
		if r := <-synced; r.Failed != 0 || r.Contended != 0 || r.Items != len(ids) {
			t.Errorf("B's sync: %+v", r)
		}
		media.SetTestHook(b, nil)
		rep, _, err = a.RetryOutdated(ctx, 500, false)
		if err != nil || rep.Items != 0 || rep.Contended != 0 || outdated() != 0 {
			t.Errorf("after B finished: %+v %v, %d outdated", rep, err, outdated())
		}
	})
}

// TestRetryLoopWakesWhenALeaseExpires: after a round that left items to a lease, the retry loop
// waits until just after the earliest expiry when that is sooner than its interval.
func TestRetryLoopWakesWhenALeaseExpires(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		leased []media.Lease
		want   time.Duration
	}{
		{"none", nil, 5 * time.Minute},
		{"soon", []media.Lease{{Expires: now.Add(20 * time.Second)}, {Expires: now.Add(10 * time.Second)}}, 10*time.Second + 10*time.Millisecond},
		{"later than the interval", []media.Lease{{Expires: now.Add(time.Hour)}}, 5 * time.Minute},
		{"already expired", []media.Lease{{Expires: now.Add(-time.Second)}}, 10 * time.Millisecond},
	} {
		if got := media.NextRetryForTest(5*time.Minute, now, c.leased); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
