package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

func record(t *testing.T, db *models.DB, inst instance, from, n int) {
	t.Helper()
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = ev(from + i)
	}
	appendTx(t, db, inst.box, true, evs...)
	relayAll(t, inst.box)
}

// TestResumeSeam resumes a subscription under load: 1,200 events before it (replayed in pages),
// 300 recorded and delivered after it joined the bus but before it read the table (so it sees
// them both in the table and live), and 300 between the end of its replay and its first live
// event. It receives each event after its cursor exactly once, in order; an event its filter
// refuses is refused in the replay as live.
func TestResumeSeam(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		a := newInstance(t, db, newClock())
		record(t, db, a, 0, 1200)
		a.box.SetHook(func(p string) {
			switch p {
			case "replay.subscribed":
				record(t, db, a, 1200, 300)
			case "replay.done":
				record(t, db, a, 1500, 300)
			}
		})
		sub, err := a.box.Subscribe(t.Context(), "100", nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		wantOnceInOrder(t, receive(t, sub.Events, 1700), 101, 1800)
		a.box.SetHook(nil)
		record(t, db, a, 1800, 1)
		wantOnceInOrder(t, receive(t, sub.Events, 1), 1801, 1801)

		odd := func(e events.Event) bool { return e.Seq%2 == 1 }
		filtered, err := a.box.Subscribe(t.Context(), "1790", odd, 100)
		if err != nil {
			t.Fatal(err)
		}
		record(t, db, a, 1801, 4)
		got := receive(t, filtered.Events, 8)
		for i, e := range got {
			if want := int64(1791 + 2*i); e.Seq != want {
				t.Fatalf("filtered event %d has cursor %d, want %d", i, e.Seq, want)
			}
		}
	})
}

// TestResumeRefusesBadCursors: malformed cursors, cursors from the future and cursors whose
// successors were pruned are refused with a *CursorError (the last one expired).
func TestResumeRefusesBadCursors(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		clk := newClock()
		a := newInstance(t, db, clk)
		record(t, db, a, 0, 10)
		for _, bad := range []string{"x", "-1", "1.5", "99999999999999999999", "11", " 3", "0x5"} {
			_, err := a.box.Subscribe(t.Context(), bad, nil, 10)
			var ce *events.CursorError
			if !errors.As(err, &ce) || ce.Expired {
				t.Errorf("after %q: %v, want a CursorError (not expired)", bad, err)
			}
		}
		clk.Add(events.DefaultConfig().Retention + time.Hour)
		record(t, db, a, 10, 5) // recent: kept
		n, err := a.box.Prune(context.Background())
		if err != nil || n != 10 {
			t.Fatalf("pruned %d (%v), want 10", n, err)
		}
		if _, err := a.box.Subscribe(t.Context(), "3", nil, 10); !errors.Is(err, events.ErrCursorExpired) {
			t.Errorf("after a pruned cursor: %v, want ErrCursorExpired", err)
		}
		sub, err := a.box.Subscribe(t.Context(), "10", nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		wantOnceInOrder(t, receive(t, sub.Events, 5), 11, 15)
	})
}

// TestPruneSparesUndelivered: an event older than the retention window that was never delivered
// (every relay was down) is kept until it is.
func TestPruneSparesUndelivered(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		clk := newClock()
		a := newInstance(t, db, clk)
		appendTx(t, db, a.box, true, ev(1))
		clk.Add(events.DefaultConfig().Retention + time.Hour)
		if n, err := a.box.Prune(context.Background()); err != nil || n != 0 {
			t.Fatalf("pruned %d undelivered (%v)", n, err)
		}
		sub := a.bus.Subscribe(t.Context(), nil, 10)
		relayAll(t, a.box)
		wantOnceInOrder(t, receive(t, sub, 1), 1, 1)
	})
}
