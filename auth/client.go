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

// limitKey is what failed attempts with header are counted against: the token id for a
// well-formed API token ("token:tok_…"), the client address for anything else ("addr:…").
func limitKey(header, addr string) string {
	scheme, tok, ok := strings.Cut(header, " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		if id, _, ok := parseToken(strings.TrimSpace(tok)); ok {
			return "token:" + id
		}
	}
	return "addr:" + addr
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
	key := limitKey(header, addr)
	blocked, wait := s.Limiter.Blocked(key)
	if blocked && strings.HasPrefix(key, "addr:") {
		// Malformed credentials cannot succeed: refuse without looking.
		return nil, &RateLimitedError{Wait: wait}
	}
	v, err := s.Authenticate(ctx, header)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, ErrUnauthenticated) {
		return nil, err
	}
	if blocked {
		return nil, &RateLimitedError{Wait: wait}
	}
	s.Limiter.Fail(key)
	return nil, err
}
