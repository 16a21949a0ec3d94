package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub"  // mem://
	_ "gocloud.dev/pubsub/natspubsub" // nats:// (NATS_SERVER_URL)

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/metrics"
	"github.com/veil-media/veil/models"
)

// EventKind names what an Event reports.
type EventKind string

// The events Veil publishes.
const (
	// EventFilePermission: one file's permission was set (or failed).
	EventFilePermission EventKind = "FILE_PERMISSION"
	// EventItemPermissions: all files of one item were tried; Failed says how many failed.
	EventItemPermissions EventKind = "ITEM_PERMISSIONS"
	// EventPrivacyChanged: an item became PUBLIC or PRIVATE.
	EventPrivacyChanged EventKind = "PRIVACY_CHANGED"
)

// Event is one thing that happened to a media item. Events travel between instances as JSON.
type Event struct {
	Kind           EventKind      `json:"kind"`
	MediaID        string         `json:"mediaId"`
	CollectionID   string         `json:"collectionId"`
	CollectionPath string         `json:"collectionPath"`
	Privacy        models.Privacy `json:"privacy"`
	ContentID      string         `json:"contentId,omitempty"`
	Cause          string         `json:"cause,omitempty"` // publish, unpublish, delete, upload, retry
	Key            string         `json:"key,omitempty"`
	Public         bool           `json:"public"`
	OK             bool           `json:"ok"`
	Error          string         `json:"error,omitempty"`
	Attempt        int            `json:"attempt"`
	Files          int            `json:"files,omitempty"`
	Failed         int            `json:"failed,omitempty"`
	Time           time.Time      `json:"time"`
}

// Bus fans events out to local subscribers, in the order they were published and without ever
// blocking the producer (a subscriber whose buffer is full is dropped), and carries them to other
// instances through gocloud pubsub (NATS). Events from other instances arrive in their order of
// arrival.
type Bus struct {
	topic  *pubsub.Topic // nil for mem://: nothing else to tell
	sub    *pubsub.Subscription
	origin string // this instance, so its own messages are not delivered twice
	log    *slog.Logger

	mu      sync.Mutex
	subs    map[uint64]*subscriber
	nextID  uint64
	dropped int // subscribers dropped for falling behind, since start
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

// Subscription is a stream of events from the bus.
type Subscription struct {
	// Events delivers the events in order; it is closed when the subscription ends.
	Events <-chan Event
	s      *subscriber
}

// Err reports why Events was closed: a *SlowSubscriberError when the subscriber fell behind and
// was dropped, nil when its context ended or the bus closed. Call it only once Events is closed
// (a receive has returned ok == false).
func (s *Subscription) Err() error { return s.s.err }

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
		return nil, fmt.Errorf("media: open event topic %s: %w", url, err)
	}
	sub, err := pubsub.OpenSubscription(ctx, url)
	if err != nil {
		topic.Shutdown(ctx)
		return nil, fmt.Errorf("media: open event subscription %s: %w", url, err)
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
// is closed when cancel is called, when ctx ends, or when the subscriber falls behind.
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
	return &Subscription{Events: s.ch, s: s}
}

// Publish delivers an event to local subscribers at once and sends it to every other instance.
// Failures are logged, never returned: events report what happened, they do not decide it.
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
		b.log.Warn("event not published", "kind", ev.Kind, "media_id", ev.MediaID, "err", err)
	}
}

// DefaultSubscriptionBuffer is how many events a subscriber may fall behind before it is dropped,
// unless Config.SubscriptionBuffer says otherwise.
const DefaultSubscriptionBuffer = 1024

type budgetKey struct{}

// WithSubscriptionBudget caps the subscriptions one connection may hold open at once.
func WithSubscriptionBudget(ctx context.Context, max int32) context.Context {
	b := &subscriptionBudget{max: max}
	return context.WithValue(ctx, budgetKey{}, b)
}

type subscriptionBudget struct {
	mu       sync.Mutex
	max, use int32
}

func (s *Service) subscribe(ctx context.Context, filter func(Event) bool) (*Subscription, error) {
	if s.bus == nil {
		return nil, errors.New("media: events are not enabled on this server")
	}
	if b, ok := ctx.Value(budgetKey{}).(*subscriptionBudget); ok {
		b.mu.Lock()
		if b.use >= b.max {
			b.mu.Unlock()
			return nil, inputErr("subscription", "at most %d subscriptions per connection", b.max)
		}
		b.use++
		b.mu.Unlock()
		go func() {
			<-ctx.Done()
			b.mu.Lock()
			b.use--
			b.mu.Unlock()
		}()
	}
	sess := auth.SessionFrom(ctx)
	if sess == nil {
		v := auth.ViewerFrom(ctx)
		return s.bus.subscribe(ctx, func(ev Event) bool {
			return v.CanRead(ev.CollectionPath, ev.Privacy) && filter(ev)
		}, s.subscriptionBuffer()), nil
	}
	// A long-lived connection: the producer filters with the last resolved viewer (never
	// blocking), letting events through while the session is stale; each event is then checked
	// here, off the producer's path, against the viewer as it is now.
	// A long-lived connection: the producer filters with the last resolved viewer (never
	// blocking), letting events through while the session is stale; the consumer then checks
	// each event with Deliverable, off the producer's path, against the viewer as it is now.
	return s.bus.subscribe(ctx, func(ev Event) bool {
		if !filter(ev) {
			return false
		}
		if v := sess.Current(); v != nil && v.CanRead(ev.CollectionPath, ev.Privacy) {
			return true
		}
		return sess.Stale()
	}, s.subscriptionBuffer()), nil
}

func (s *Service) subscriptionBuffer() int {
	if s.cfg.SubscriptionBuffer > 0 {
		return s.cfg.SubscriptionBuffer
	}
	return DefaultSubscriptionBuffer
}

// Deliverable decides, on the consumer's side, whether an event received from a subscription may
// be delivered now: the connection's session (auth.Session) is re-checked when stale. ended
// reports that the credentials are gone: deliver nothing more; the transport ends the
// connection (auth.Session.Watch). Without a session (a plain request) everything the
// subscription's filter passed is deliverable.
func (s *Service) Deliverable(ctx context.Context, ev Event) (ok, ended bool) {
	sess := auth.SessionFrom(ctx)
	if sess == nil {
		return true, false
	}
	v, err := sess.Viewer(ctx)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return false, true
	}
	if err != nil {
		s.log.WarnContext(ctx, "subscription: could not re-check the viewer; event withheld", "media_id", ev.MediaID, "err", err)
		return false, false
	}
	return v.CanRead(ev.CollectionPath, ev.Privacy), false
}

// SubscribePermissions streams file-permission results the viewer may see, optionally only for
// mediaIDs and/or the sync caused by contentID.
func (s *Service) SubscribePermissions(ctx context.Context, mediaIDs []string, contentID string) (*Subscription, error) {
	want := map[string]bool{}
	for _, id := range mediaIDs {
		want[id] = true
	}
	return s.subscribe(ctx, func(ev Event) bool {
		return (ev.Kind == EventFilePermission || ev.Kind == EventItemPermissions) &&
			(len(want) == 0 || want[ev.MediaID]) && (contentID == "" || ev.ContentID == contentID)
	})
}

// SubscribePurges streams CDN purge results the viewer may see, optionally only for mediaIDs and/or
// the change caused by contentID.
func (s *Service) SubscribePurges(ctx context.Context, mediaIDs []string, contentID string) (*Subscription, error) {
	want := map[string]bool{}
	for _, id := range mediaIDs {
		want[id] = true
	}
	return s.subscribe(ctx, func(ev Event) bool {
		return ev.Kind == EventPurge && (len(want) == 0 || want[ev.MediaID]) && (contentID == "" || ev.ContentID == contentID)
	})
}

// SubscribePrivacy streams privacy changes the viewer may see, optionally only in the subtree of
// collectionID.
func (s *Service) SubscribePrivacy(ctx context.Context, collectionID string) (*Subscription, error) {
	if collectionID != "" {
		if _, err := s.Collection(ctx, collectionID); err != nil {
			return nil, err
		}
	}
	return s.subscribe(ctx, func(ev Event) bool {
		return ev.Kind == EventPrivacyChanged && (collectionID == "" || strings.Contains(ev.CollectionPath, "/"+collectionID+"/"))
	})
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
