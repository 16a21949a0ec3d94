package auth

import (
	"context"
	"errors"
	"strings"
	"time"
)

// RateLimitedError refuses a failing authentication attempt made while its limiter key (see
// AuthenticateFrom) has used up its failures. Wait is how long until the window ends.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string {
	return "too many failed authentications; retry later"
}

// headerTokenID returns the token id of a well-formed API token in header: failed attempts with it
// are counted against "token:<id>", failed attempts with anything else against "addr:<address>".
func headerTokenID(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		if id, _, ok := parseToken(strings.TrimSpace(tok)); ok {
			return id, true
		}
	}
	return "", false
}

// AuthenticateFrom is Authenticate for a request from client address addr, with failed attempts
// limited. The design:
//
//   - Failures of a well-formed token ("veil_tok_<id>_<secret>") are counted against its token id,
//     wherever they come from: guessing the secret of one token from many addresses is limited
//     as from one, and one address's failures never touch other tokens.
//   - Failures of malformed credentials (no token id to key on) are counted against addr.
//   - Past FailuresPerMinute failures on a key, a failing attempt with that key is answered with
//     *RateLimitedError instead of ErrUnauthenticated, is not logged again and does not extend
//     the window. A valid token is still accepted: its holder is never refused because of other
//     requests' failures (secrets are 256 random bits, so the limit bounds noise and enumeration,
//     and cannot be what keeps a secret).
//
// No header is the anonymous viewer and never counts.
func (s *Service) AuthenticateFrom(ctx context.Context, header, addr string) (*Viewer, error) {
	if header == "" {
		return Anonymous, nil
	}
	id, wellFormed := headerTokenID(header)
	if !wellFormed {
		// Malformed credentials cannot succeed: past the limit, refuse without looking.
		key := "addr:" + addr
		if blocked, wait := s.Limiter.Blocked(key); blocked {
			return nil, &RateLimitedError{Wait: wait}
		}
		v, err := s.Authenticate(ctx, header)
		if errors.Is(err, ErrUnauthenticated) {
			s.Limiter.Fail(key)
		}
		return v, err
	}
	// A token's limit matters only once it has failed: a valid token is never refused, so the
	// limiter (its lock, its key) is left alone on the way to success.
	v, err := s.Authenticate(ctx, header)
	if err == nil || !errors.Is(err, ErrUnauthenticated) {
		return v, err
	}
	key := "token:" + id
	if blocked, wait := s.Limiter.Blocked(key); blocked {
		return nil, &RateLimitedError{Wait: wait}
	}
	s.Limiter.Fail(key)
	return nil, err
}
