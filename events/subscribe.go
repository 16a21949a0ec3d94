package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/veil-media/veil/models"
)

// replayPage is how many events a replay reads from the table at a time.
const replayPage = 500

// Subscribe returns the events matching filter, in cursor order: first those after the cursor
// after, read from the table, then the live ones from the bus, with no gap and no duplicate
// between the two (the live subscription is taken before the table is read, and live events at
// or below the last replayed cursor are dropped). filter decides replayed and live events alike.
// With after empty it is the live stream only. A cursor older than the retention window fails
// with a *CursorError wrapping ErrCursorExpired; one Veil never gave (malformed, or beyond the
// newest event) with a *CursorError.
//
// buffer bounds how far the live stream may get ahead of the subscriber (replay included) before
// the subscription is dropped with a *SlowSubscriberError; the replay itself goes at the
// subscriber's pace.
func (o *Outbox) Subscribe(ctx context.Context, after string, filter func(Event) bool, buffer int) (*Subscription, error) {
	if filter == nil {
		filter = func(Event) bool { return true }
	}
	from, err := ParseCursor(after)
	if err != nil {
		return nil, err
	}
	if after == "" {
		return o.bus.subscribe(ctx, filter, buffer), nil
	}
	if err := o.checkCursor(ctx, after, from); err != nil {
		return nil, err
	}
	live := o.bus.subscribe(ctx, filter, buffer)
	out := make(chan Event)
	var (
		mu     sync.Mutex
		endErr error
	)
	go func() {
		defer close(out)
		send := func(ev Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		last := from
		o.hook("replay.subscribed")
		for {
			page, err := o.page(ctx, last, replayPage)
			if err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					endErr = err
					mu.Unlock()
				}
				return
			}
			for _, ev := range page {
				last = ev.Seq
				if filter(ev) && !send(ev) {
					return
				}
			}
			if len(page) < replayPage {
				break
			}
		}
		o.hook("replay.done")
		for ev := range live.Events {
			if ev.Seq != 0 && ev.Seq <= last {
				continue // replayed already
			}
			if ev.Seq != 0 {
				last = ev.Seq
			}
			if !send(ev) {
				return
			}
		}
		mu.Lock()
		endErr = live.Err()
		mu.Unlock()
	}()
	return &Subscription{Events: out, err: func() error {
		mu.Lock()
		defer mu.Unlock()
		return endErr
	}}, nil
}

// checkCursor refuses a cursor whose successors were pruned, or that is beyond the newest event.
func (o *Outbox) checkCursor(ctx context.Context, raw string, from int64) error {
	var st struct {
		PrunedThrough int64 `bun:"pruned_through"`
		Top           int64 `bun:"top"`
	}
	if err := o.db.NewRaw("SELECT pruned_through, (SELECT COALESCE(MAX(seq), 0) FROM events) AS top FROM event_relay WHERE name = 'relay'").
		Scan(ctx, &st); err != nil {
		return fmt.Errorf("events: read retention: %w", err)
	}
	if from < st.PrunedThrough {
		return &CursorError{Cursor: raw, Expired: true, Reason: fmt.Sprintf("events after it are older than the retention window and were pruned; resume from %d or later, or start without after", st.PrunedThrough)}
	}
	if from > st.Top {
		return &CursorError{Cursor: raw, Reason: "no event has this cursor yet"}
	}
	return nil
}

// page reads up to n numbered events after cursor from, in cursor order.
func (o *Outbox) page(ctx context.Context, from int64, n int) ([]Event, error) {
	var rows []models.EventRow
	if err := o.db.NewSelect().Model(&rows).Column("seq", "body").Where("seq > ?", from).Order("seq").Limit(n).Scan(ctx); err != nil {
		return nil, fmt.Errorf("events: replay after %d: %w", from, err)
	}
	evs := make([]Event, 0, len(rows))
	for _, r := range rows {
		var ev Event
		if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
			return nil, fmt.Errorf("events: replay: event %d unreadable: %w", *r.Seq, err)
		}
		ev.Seq = *r.Seq
		evs = append(evs, ev)
	}
	return evs, nil
}

type resumeKey struct{}

// WithResume carries a cursor a transport received out of band (server-sent events'
// Last-Event-ID) to the subscriptions of ctx that name none.
func WithResume(ctx context.Context, cursor string) context.Context {
	return context.WithValue(ctx, resumeKey{}, cursor)
}

// ResumeFrom returns the cursor WithResume attached, or "".
func ResumeFrom(ctx context.Context) string {
	c, _ := ctx.Value(resumeKey{}).(string)
	return c
}
