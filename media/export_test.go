package media

import "time"

// SetTestHook installs fn as the pause point of every step whose interleaving decides a file's
// permission (see testHooks); nil removes it.
func SetTestHook(s *Service, fn func(point, ids string)) {
	var h testHooks
	if old := s.hooks.p.Load(); old != nil {
		h = *old
	}
	h.at = fn
	s.hooks.p.Store(&h)
}

// SetTestClock makes now the clock of the service's permission leases; nil restores the wall clock.
func SetTestClock(s *Service, now func() time.Time) {
	var h testHooks
	if old := s.hooks.p.Load(); old != nil {
		h = *old
	}
	h.now = now
	s.hooks.p.Store(&h)
}

// NextRetryForTest exposes how long the retry loop waits after a round.
var NextRetryForTest = nextRetry
