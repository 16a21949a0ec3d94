package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Session keeps the viewer of a long-lived connection (a websocket, a server-sent-event stream)
// current. A request's Viewer is resolved once; a connection lasts longer than a token may stay
// valid or a grant may stay in place, so what it delivers is checked against a Session instead:
//
//   - Viewer re-resolves the credentials when the last resolution is older than CacheTTL, when
//     the token's expiry has passed, or when users, groups, grants or tokens were changed through
//     this process since. A revoked or expired token, or a deactivated user, ends the session for
//     good (Done is closed, Err says why); changed grants simply give a new Viewer.
//   - Current and Stale never block and do no I/O: a producer fanning out events may call them.
//
// The anonymous session (no credentials) never changes and never ends.
type Session struct {
	svc    *Service
	header string

	mu    sync.Mutex // serialises re-resolution: one query per connection, not per subscription
	state atomic.Pointer[sessionState]
	done  chan struct{}
	err   error // set (under mu) before done is closed
}

type sessionState struct {
	viewer *Viewer // nil once the session ended
	gen    uint64  // Service.gen when viewer was resolved
	until  time.Time
}

// NewSession starts a session for viewer v, resolved from the Authorization header value header
// ("" for the anonymous viewer).
func (s *Service) NewSession(v *Viewer, header string) *Session {
	ss := &Session{svc: s, header: header, done: make(chan struct{})}
	ss.state.Store(s.stateFor(v, s.gen.Load()))
	return ss
}

func (s *Service) stateFor(v *Viewer, gen uint64) *sessionState {
	until := v.resolved.Add(s.cfg.CacheTTL)
	if v.resolved.IsZero() {
		until = s.now().Add(s.cfg.CacheTTL)
	}
	if v.expiresAt != nil && v.expiresAt.Before(until) {
		until = *v.expiresAt
	}
	return &sessionState{viewer: v, gen: gen, until: until}
}

// Current returns the last resolved viewer, or nil once the session has ended. It never blocks.
func (ss *Session) Current() *Viewer { return ss.state.Load().viewer }

// Stale reports whether Viewer would re-resolve the credentials (or the session has ended). It
// never blocks: a filter that would drop an event for the Current viewer lets it through when
// the session is stale, so the consumer decides with a fresh viewer.
func (ss *Session) Stale() bool {
	if ss.header == "" {
		return false
	}
	st := ss.state.Load()
	return st.viewer == nil || st.gen != ss.svc.gen.Load() || !ss.svc.now().Before(st.until)
}

// Viewer returns the viewer as it is now, re-resolving the credentials when the last resolution
// is stale. It returns an error wrapping ErrUnauthenticated once the token is revoked or expired
// or its user deactivated (and from then on); other errors (the database) are returned as they
// are and leave the session as it was, so a caller must treat them as "may not see".
func (ss *Session) Viewer(ctx context.Context) (*Viewer, error) {
	if !ss.Stale() {
		return ss.Current(), nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.err != nil {
		return nil, ss.err
	}
	if !ss.Stale() { // another caller just re-resolved
		return ss.Current(), nil
	}
	gen := ss.svc.gen.Load()
	v, err := ss.svc.Authenticate(ctx, ss.header)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			ss.err = err
			ss.state.Store(&sessionState{})
			close(ss.done)
		}
		return nil, err
	}
	ss.state.Store(ss.svc.stateFor(v, gen))
	return v, nil
}

// refresh re-resolves the credentials ahead of time, when the viewer is older than half the
// TTL, so that delivery (Viewer) normally finds the session fresh and never waits on the
// database during a burst of events. Sessions of one token share the load through the cache.
func (ss *Session) refresh(ctx context.Context) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.err != nil {
		return
	}
	gen := ss.svc.gen.Load()
	v, err := ss.svc.authenticate(ctx, ss.header, ss.svc.cfg.CacheTTL/2)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			ss.err = err
			ss.state.Store(&sessionState{})
			close(ss.done)
		}
		return
	}
	ss.state.Store(ss.svc.stateFor(v, gen))
}

// Done is closed when the session has ended: its credentials are no longer valid.
func (ss *Session) Done() <-chan struct{} { return ss.done }

// Err says why the session ended (wrapping ErrUnauthenticated), or nil while it lasts.
func (ss *Session) Err() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.err
}

// Watch refreshes the session every half CacheTTL (at least every 500 ms) until ctx ends, so a
// connection that receives no events still notices that its token was revoked or expired, and
// delivery rarely has to re-resolve on its own path; when
// the session ends, Watch calls onEnd once with the reason and returns. The caller owns the
// goroutine that runs it; ctx bounds it.
func (ss *Session) Watch(ctx context.Context, onEnd func(error)) {
	if ss.header == "" {
		return
	}
	every := max(ss.svc.cfg.CacheTTL/2, 500*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ss.done:
			onEnd(ss.Err())
			return
		case <-t.C:
			ss.refresh(ctx)
		}
	}
}

type sessionKey struct{}

// WithSession stores ss in ctx; code that delivers to a long-lived connection checks it.
func WithSession(ctx context.Context, ss *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, ss)
}

// SessionFrom returns the session in ctx, or nil for a plain request.
func SessionFrom(ctx context.Context) *Session {
	ss, _ := ctx.Value(sessionKey{}).(*Session)
	return ss
}
