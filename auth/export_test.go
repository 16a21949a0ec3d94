package auth

import "time"

// Hooks for the external tests in auth_test.go (package auth_test, which may import veiltest).

// ParseToken is parseToken.
var ParseToken = parseToken

// SetNow replaces the limiter's clock. Call it before the limiter is used.
func (l *Limiter) SetNow(now func() time.Time) { l.now = now }
