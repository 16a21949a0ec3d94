package media

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
)

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

// subscribe opens a subscription to the events matching filter that the viewer may see, replayed
// from the cursor after (or the one a transport carried, events.ResumeFrom) before going live.
func (s *Service) subscribe(ctx context.Context, after string, filter func(events.Event) bool) (*events.Subscription, error) {
	if after == "" {
		after = events.ResumeFrom(ctx)
	}
	if s.events == nil {
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
		return s.events.Subscribe(ctx, after, func(ev events.Event) bool {
			return v.CanRead(ev.CollectionPath, ev.Privacy) && filter(ev)
		}, s.subscriptionBuffer())
	}
	// A long-lived connection: the producer filters with the last resolved viewer (never
	// blocking), letting events through while the session is stale; the consumer then checks
	// each event with Deliverable, off the producer's path, against the viewer as it is now.
	return s.events.Subscribe(ctx, after, func(ev events.Event) bool {
		if !filter(ev) {
			return false
		}
		if v := sess.Current(); v != nil && v.CanRead(ev.CollectionPath, ev.Privacy) {
			return true
		}
		return sess.Stale()
	}, s.subscriptionBuffer())
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
func (s *Service) Deliverable(ctx context.Context, ev events.Event) (ok, ended bool) {
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
// mediaIDs and/or the sync caused by contentID, replayed from after.
func (s *Service) SubscribePermissions(ctx context.Context, mediaIDs []string, contentID, after string) (*events.Subscription, error) {
	want := map[string]bool{}
	for _, id := range mediaIDs {
		want[id] = true
	}
	return s.subscribe(ctx, after, func(ev events.Event) bool {
		return (ev.Kind == events.FilePermission || ev.Kind == events.ItemPermissions) &&
			(len(want) == 0 || want[ev.MediaID]) && (contentID == "" || ev.ContentID == contentID)
	})
}

// SubscribePurges streams CDN purge results the viewer may see, optionally only for mediaIDs and/or
// the change caused by contentID.
func (s *Service) SubscribePurges(ctx context.Context, mediaIDs []string, contentID, after string) (*events.Subscription, error) {
	want := map[string]bool{}
	for _, id := range mediaIDs {
		want[id] = true
	}
	return s.subscribe(ctx, after, func(ev events.Event) bool {
		return ev.Kind == events.Purge && (len(want) == 0 || want[ev.MediaID]) && (contentID == "" || ev.ContentID == contentID)
	})
}

// SubscribePrivacy streams privacy changes the viewer may see, optionally only in the subtree of
// collectionID.
func (s *Service) SubscribePrivacy(ctx context.Context, collectionID, after string) (*events.Subscription, error) {
	if collectionID != "" {
		if _, err := s.Collection(ctx, collectionID); err != nil {
			return nil, err
		}
	}
	return s.subscribe(ctx, after, func(ev events.Event) bool {
		return ev.Kind == events.PrivacyChanged && (collectionID == "" || strings.Contains(ev.CollectionPath, "/"+collectionID+"/"))
	})
}

// stamp fills in who caused ev: the viewer of ctx (its user and API token).
func stamp(ctx context.Context, ev events.Event) events.Event {
	if v := auth.ViewerFrom(ctx); v != nil && ev.Actor == "" {
		ev.Actor, ev.TokenID = v.UserID, v.TokenID
	}
	return ev
}

// record appends evs to the outbox through tx, the transaction making the change they report,
// stamped with the viewer of ctx.
func (s *Service) record(ctx context.Context, tx bun.IDB, evs ...events.Event) error {
	if s.events == nil {
		return nil
	}
	for i := range evs {
		evs[i] = stamp(ctx, evs[i])
	}
	return s.events.Append(ctx, tx, evs...)
}

// emit records evs that report an outcome rather than a change (a file permission, a purge) in a
// transaction of their own. A failure is logged: the outcome happened whether or not it is told.
func (s *Service) emit(ctx context.Context, evs ...events.Event) {
	if s.events == nil {
		return
	}
	for i := range evs {
		evs[i] = stamp(ctx, evs[i])
	}
	if err := s.events.Emit(ctx, evs...); err != nil {
		s.log.ErrorContext(ctx, "events not recorded", "kind", evs[0].Kind, "n", len(evs), "err", err)
	}
}

// recordMedia records that an item was uploaded, updated or deleted, through tx.
func (s *Service) recordMedia(ctx context.Context, tx bun.IDB, kind events.Kind, id, collectionID string, p models.Privacy) error {
	path, err := s.collectionPath(ctx, collectionID)
	if err != nil {
		return err
	}
	return s.record(ctx, tx, events.Event{Kind: kind, MediaID: id, CollectionID: collectionID, CollectionPath: path, Privacy: p})
}
