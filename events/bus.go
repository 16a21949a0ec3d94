package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub"  // mem://
	_ "gocloud.dev/pubsub/natspubsub" // nats:// (NATS_SERVER_URL)

	"github.com/veil-media/veil/metrics"
)

// Bus fans events out to local subscribers, in the order they were published and without ever
// blocking the producer (a subscriber whose buffer is full is dropped), and carries them to other
// instances through gocloud pubsub (NATS). Events from other instances arrive in their order of
// arrival. An event with a cursor (Seq) at or below the last one delivered is a re-delivery (a
// relay that crashed after publishing and before recording it) and is dropped.
type Bus struct {
	topic  *pubsub.Topic // nil for mem://: nothing else to tell
	sub    *pubsub.Subscription
	origin string // this instance, so its own messages are not delivered twice
	log    *slog.Logger

	mu      sync.Mutex
	subs    map[uint64]*subscriber
	nextID  uint64
	lastSeq int64 // the highest cursor delivered
	dropped int   // subscribers dropped for falling behind, since start
}

type subscriber struct {
	ch     chan Event
	filter func(Event) bool
	err    error // why ch was closed; written under Bus.mu before the close
}

// SlowSubscriberError is why a subscription was dropped for falling behind: Behind events were
// waiting for it, a full buffer, when one more arrived.
type SlowSubscriberError struct{ Behind int }

func (e *SlowSubscriberError) Error() string {
	return fmt.Sprintf("subscription dropped: the client fell behind by %d events", e.Behind)
}

// Subscription is a stream of events.
type Subscription struct {
	// Events delivers the events in order; it is closed when the subscription ends.
	Events <-chan Event
	err    func() error
}

// Err reports why Events was closed: a *SlowSubscriberError when the subscriber fell behind and
// was dropped, the error that stopped a replay, nil when its context ended or the bus closed.
// Call it only once Events is closed (a receive has returned ok == false).
func (s *Subscription) Err() error { return s.err() }

// OpenBus opens the bus at url: "mem://" (this process only; the default) or "nats://subject"
// (every instance connected to the same NATS server, NATS_SERVER_URL, sees every event).
func OpenBus(ctx context.Context, url string, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	bus := &Bus{origin: hex.EncodeToString(b[:]), log: log, subs: map[uint64]*subscriber{}}
	switch {
	case url == "" || url == "mem://":
		return bus, nil
	case strings.HasPrefix(url, "mem://"), strings.HasPrefix(url, "nats://"):
	default:
		return nil, fmt.Errorf("VEIL_EVENTS_URL: %q: use mem:// or nats://subject", url)
	}
	topic, err := pubsub.OpenTopic(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("events: open topic %s: %w", url, err)
	}
	sub, err := pubsub.OpenSubscription(ctx, url)
	if err != nil {
		topic.Shutdown(ctx)
		return nil, fmt.Errorf("events: open subscription %s: %w", url, err)
	}
	bus.topic, bus.sub = topic, sub
	return bus, nil
}

// Run receives other instances' events and fans them out until ctx is done; the caller owns it.
func (b *Bus) Run(ctx context.Context) {
	if b.sub == nil {
		<-ctx.Done()
		return
	}
	for {
		msg, err := b.sub.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Error("event bus receive", "err", err)
			}
			return
		}
		msg.Ack()
		if msg.Metadata["origin"] == b.origin {
			continue // delivered locally when it was published
		}
		var ev Event
		if err := json.Unmarshal(msg.Body, &ev); err != nil {
			b.log.Warn("event bus: bad message", "err", err)
			continue
		}
		b.deliver(ev)
	}
}

// Close shuts the bus down and closes every subscriber's channel.
func (b *Bus) Close(ctx context.Context) {
	if b.sub != nil {
		_ = b.sub.Shutdown(ctx)
		_ = b.topic.Shutdown(ctx)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, s := range b.subs {
		close(s.ch)
		delete(b.subs, id)
	}
}

func (b *Bus) deliver(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev.Seq != 0 {
		if ev.Seq <= b.lastSeq {
			return // already delivered
		}
		b.lastSeq = ev.Seq
	}
	for id, s := range b.subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default: // a slow subscriber is dropped, never waited for
			s.err = &SlowSubscriberError{Behind: cap(s.ch)}
			close(s.ch)
			delete(b.subs, id)
			b.dropped++
			metrics.EventsDropped.Inc()
			b.log.Warn("event subscriber dropped: not keeping up", "buffer", cap(s.ch))
		}
	}
}

// Subscribe returns a channel of events matching filter, buffered to buffer events; the channel
// is closed when ctx ends, or when the subscriber falls behind.
func (b *Bus) Subscribe(ctx context.Context, filter func(Event) bool, buffer int) <-chan Event {
	return b.subscribe(ctx, filter, buffer).Events
}

// subscribe is Subscribe returning the Subscription, which also tells why it ended.
func (b *Bus) subscribe(ctx context.Context, filter func(Event) bool, buffer int) *Subscription {
	b.mu.Lock()
	id := b.nextID
	b.nextID++
	s := &subscriber{ch: make(chan Event, buffer), filter: filter}
	b.subs[id] = s
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[id]; ok {
			close(s.ch)
			delete(b.subs, id)
		}
	}()
	return &Subscription{Events: s.ch, err: func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		return s.err
	}}
}

// Publish delivers an event to local subscribers at once and sends it to every other instance.
// Failures are logged, never returned: events report what happened, they do not decide it.
// Changes publish through an Outbox, whose relay calls Publish; calling it directly delivers an
// event that is recorded nowhere.
func (b *Bus) Publish(ctx context.Context, ev Event) {
	if b == nil {
		return
	}
	b.deliver(ev)
	if b.topic == nil {
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	msg := &pubsub.Message{Body: body, Metadata: map[string]string{"origin": b.origin}}
	if err := b.topic.Send(context.WithoutCancel(ctx), msg); err != nil {
		b.log.Warn("event not published", "kind", ev.Kind, "media_id", ev.MediaID, "seq", ev.Seq, "err", err)
	}
}

// Subscribers returns how many local subscribers the bus has (tests wait on it).
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Dropped reports how many subscribers have been dropped for falling behind since start.
func (b *Bus) Dropped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
