package auth

import (
	"sync"
	"time"
)

// Limiter counts failed authentications per key (a token id or a client address, see
// Service.AuthenticateFrom) in a fixed window and says when a key must wait. Memory is bounded: windows that ended are swept when the map grows.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	hits map[string]*limitWindow
}

type limitWindow struct {
	start time.Time
	n     int
}

// NewLimiter allows max failures per window per address.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{max: max, window: window, now: time.Now, hits: map[string]*limitWindow{}}
}

// Blocked reports whether addr has used up its failures, and for how long it must wait.
func (l *Limiter) Blocked(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.hits[addr]
	now := l.now()
	if !ok || now.Sub(w.start) >= l.window {
		return false, 0
	}
	if w.n >= l.max {
		return true, w.start.Add(l.window).Sub(now)
	}
	return false, 0
}

// Fail records a failed authentication from addr.
func (l *Limiter) Fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.hits) > 100000 {
		for k, w := range l.hits {
			if now.Sub(w.start) >= l.window {
				delete(l.hits, k)
			}
		}
	}
	w, ok := l.hits[addr]
	if !ok || now.Sub(w.start) >= l.window {
		l.hits[addr] = &limitWindow{start: now, n: 1}
		return
	}
	w.n++
}
