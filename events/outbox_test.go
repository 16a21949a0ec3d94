package events_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// instance is one Veil process's view of the events: its own bus and outbox over a shared database.
type instance struct {
	bus *events.Bus
	box *events.Outbox
}

func newInstance(t *testing.T, db *models.DB, clk *clock) instance {
	t.Helper()
	bus, err := events.OpenBus(context.Background(), "mem://", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close(context.Background()) })
	cfg := events.DefaultConfig()
	cfg.Clock = clk.Now
	cfg.Batch = 50
	return instance{bus: bus, box: events.NewOutbox(db, bus, cfg, nil)}
}

func ev(i int) events.Event {
	return events.Event{Kind: events.MediaUploaded, MediaID: fmt.Sprintf("img_%04d", i), CollectionPath: "/c/", Privacy: models.Private}
}

// appendTx records evs in a transaction that commits when commit is set and rolls back otherwise.
func appendTx(t *testing.T, db *models.DB, box *events.Outbox, commit bool, evs ...events.Event) {
	t.Helper()
	errRollback := errors.New("rollback")
	err := db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if err := box.Append(ctx, tx, evs...); err != nil {
			return err
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	if commit && err != nil || !commit && !errors.Is(err, errRollback) {
		t.Fatalf("append: %v", err)
	}
}

// drain relays until nothing is left and returns what sub received.
func relayAll(t *testing.T, box *events.Outbox) {
	t.Helper()
	for {
		n, err := box.RelayOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func receive(t *testing.T, ch <-chan events.Event, n int) []events.Event {
	t.Helper()
	var got []events.Event
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("stream closed after %d of %d events", len(got), n)
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("received %d of %d events", len(got), n)
		}
	}
	return got
}

// wantOnceInOrder checks got holds the cursors from..to exactly once each, increasing.
func wantOnceInOrder(t *testing.T, got []events.Event, from, to int64) {
	t.Helper()
	if int64(len(got)) != to-from+1 {
		t.Fatalf("got %d events, want %d (cursors %d..%d)", len(got), to-from+1, from, to)
	}
	for i, e := range got {
		if e.Seq != from+int64(i) {
			t.Fatalf("event %d has cursor %d, want %d (a gap, a duplicate or out of order)", i, e.Seq, from+int64(i))
		}
	}
}

func unsent(t *testing.T, db *models.DB) int {
	n, err := db.NewSelect().Model((*models.EventRow)(nil)).Where("sent_at IS NULL").Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOutboxCommitsWithTheChange: events recorded in a transaction that rolls back are never
// delivered; committed ones are numbered and delivered in the order they were recorded.
func TestOutboxCommitsWithTheChange(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		a := newInstance(t, db, newClock())
		sub := a.bus.Subscribe(t.Context(), nil, 100)
		appendTx(t, db, a.box, true, ev(1), ev(2))
		appendTx(t, db, a.box, false, ev(99))
		appendTx(t, db, a.box, true, ev(3))
		relayAll(t, a.box)
		got := receive(t, sub, 3)
		wantOnceInOrder(t, got, 1, 3)
		for i, e := range got {
			if want := fmt.Sprintf("img_%04d", i+1); e.MediaID != want {
				t.Errorf("event %d is %s, want %s", i, e.MediaID, want)
			}
		}
		select {
		case e := <-sub:
			t.Errorf("an event of a rolled-back transaction was delivered: %+v", e)
		default:
		}
		if n := unsent(t, db); n != 0 {
			t.Errorf("%d events not recorded as sent", n)
		}
	})
}

// TestRelayCrashDelaysNeverLoses kills the relay (its goroutine exits, as in kill -9) at each
// point between a change's commit and the record of its delivery; another instance takes over
// once the lease expires and every event reaches its subscribers exactly once, with one cursor.
func TestRelayCrashDelaysNeverLoses(t *testing.T) {
	for _, point := range []string{"commit", "relay.assigned", "relay.delivered"} {
		t.Run(point, func(t *testing.T) {
			veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
				clk := newClock()
				a, b := newInstance(t, db, clk), newInstance(t, db, clk)
				onA := a.bus.Subscribe(t.Context(), nil, 1000)
				onB := b.bus.Subscribe(t.Context(), nil, 1000)
				// A holds the lease and has delivered 10 events.
				appendTx(t, db, a.box, true, ev(1), ev(2), ev(3), ev(4), ev(5), ev(6), ev(7), ev(8), ev(9), ev(10))
				relayAll(t, a.box)
				appendTx(t, db, a.box, true, ev(11), ev(12), ev(13))
				if point != "commit" {
					a.box.SetHook(func(p string) {
						if p == point {
							runtime.Goexit() // the process dies here
						}
					})
					done := make(chan struct{})
					go func() { defer close(done); _, _ = a.box.RelayOnce(context.Background()) }()
					<-done
				}
				// B cannot take over while A's lease lasts.
				if n, err := b.box.RelayOnce(context.Background()); err != nil || n != 0 {
					t.Fatalf("B relayed %d (%v) while A held the lease", n, err)
				}
				clk.Add(events.DefaultConfig().Lease + time.Second)
				relayAll(t, b.box)
				if n := unsent(t, db); n != 0 {
					t.Fatalf("%d events still unsent after B took over", n)
				}
				gotA := receive(t, onA, 10)
				if point == "relay.delivered" {
					gotA = append(gotA, receive(t, onA, 3)...) // A delivered before dying
				}
				wantOnceInOrder(t, gotA, 1, int64(len(gotA)))
				wantOnceInOrder(t, receive(t, onB, 3), 11, 13) // B's bus: the takeover's delivery
				// A restarted, resuming from the last cursor it saw, gets the rest exactly once.
				a2 := newInstance(t, db, clk)
				sub, err := a2.box.Subscribe(t.Context(), "10", nil, 100)
				if err != nil {
					t.Fatal(err)
				}
				wantOnceInOrder(t, receive(t, sub.Events, 3), 11, 13)
			})
		})
	}
}

// TestOneRelayAtATime: two instances relay concurrently while events are recorded through both;
// every event is delivered by exactly one of them, and the cursors are dense and increasing.
func TestOneRelayAtATime(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		clk := newClock()
		a, b := newInstance(t, db, clk), newInstance(t, db, clk)
		onA := a.bus.Subscribe(t.Context(), nil, 1000)
		onB := b.bus.Subscribe(t.Context(), nil, 1000)
		var wg sync.WaitGroup
		for w, inst := range []instance{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					appendTx(t, db, inst.box, true, ev(w*1000+i))
					if _, err := inst.box.RelayOnce(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		relayAll(t, a.box)
		relayAll(t, b.box)
		if n := unsent(t, db); n != 0 {
			t.Fatalf("%d unsent", n)
		}
		got := append(drainNow(onA), drainNow(onB)...)
		if len(drainNow(onA))+len(drainNow(onB)) != 0 || len(got) != 200 {
			t.Fatalf("%d deliveries for 200 events", len(got))
		}
		seen := map[int64]bool{}
		for _, e := range got {
			if seen[e.Seq] {
				t.Fatalf("cursor %d delivered twice", e.Seq)
			}
			seen[e.Seq] = true
		}
		for s := int64(1); s <= 200; s++ {
			if !seen[s] {
				t.Fatalf("cursor %d never delivered", s)
			}
		}
	})
}

func drainNow(ch <-chan events.Event) []events.Event {
	var out []events.Event
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestNumberingAcrossIDGaps: events whose ids have gaps (Postgres sequences skip the ids of
// rolled-back transactions) get consecutive cursors in id order, whether the batch has a few runs
// of consecutive ids (a range update each) or many (one statement for all).
func TestNumberingAcrossIDGaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		gap  func(i int) bool // drop event i
	}{
		{"few runs", func(i int) bool { return i == 5 || i == 6 || i == 20 || i == 33 }},
		{"many runs", func(i int) bool { return i%2 == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
				a := newInstance(t, db, newClock())
				sub := a.bus.Subscribe(t.Context(), nil, 100)
				var all []events.Event
				for i := range 40 {
					all = append(all, ev(i))
				}
				appendTx(t, db, a.box, true, all...)
				var want []string
				for i := range 40 {
					if tc.gap(i) {
						if _, err := db.NewDelete().Model((*models.EventRow)(nil)).
							Where("media_id = ?", fmt.Sprintf("img_%04d", i)).Exec(t.Context()); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want = append(want, fmt.Sprintf("img_%04d", i))
				}
				relayAll(t, a.box)
				got := receive(t, sub, len(want))
				wantOnceInOrder(t, got, 1, int64(len(want)))
				for i, e := range got {
					if e.MediaID != want[i] {
						t.Fatalf("cursor %d is %s, want %s", e.Seq, e.MediaID, want[i])
					}
				}
			})
		})
	}
}
