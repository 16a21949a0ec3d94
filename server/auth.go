package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/veil-media/veil/auth"
)

// withAuth resolves the request's viewer from "Authorization: Bearer <token>". No header is the
// anonymous viewer; a bad, expired or revoked token is refused with 401 (never treated as
// anonymous). Failed attempts are counted per client address; past the limit the address gets 429
// until its window ends.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r.WithContext(auth.WithViewer(r.Context(), auth.Anonymous)))
			return
		}
		addr := clientAddr(r)
		if blocked, wait := s.deps.Auth.Limiter.Blocked(addr); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			s.authError(w, r, http.StatusTooManyRequests, "RATE_LIMITED", "too many failed authentications from this address; retry later")
			return
		}
		v, err := s.deps.Auth.Authenticate(r.Context(), header)
		if err != nil {
			if errors.Is(err, auth.ErrUnauthenticated) {
				s.deps.Auth.Limiter.Fail(addr)
				s.log.InfoContext(r.Context(), "authentication failed", "request_id", RequestID(r.Context()), "addr", addr, "reason", err.Error())
				w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
				s.authError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", strings.TrimPrefix(err.Error(), "unauthenticated: "))
				return
			}
			s.log.ErrorContext(r.Context(), "authentication error", "request_id", RequestID(r.Context()), "err", err)
			s.authError(w, r, http.StatusInternalServerError, CodeInternal, "internal error (request id "+RequestID(r.Context())+")")
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithViewer(r.Context(), v)))
	})
}

// authError answers in the shape the client expects: a GraphQL error on /graphql, text elsewhere.
func (s *Server) authError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasPrefix(r.URL.Path, "/graphql") {
		writeGraphQLError(w, status, code, "%s", msg)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.Error(w, msg, status)
}

type clientAddrKey struct{}

// withClientAddr remembers the client address for code that sees only a context (websocket init).
func withClientAddr(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, clientAddr(r))
}

func clientAddrFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// clientAddr is the address failures are counted against: the TCP peer. (Behind a proxy every
// client shares the proxy's address; Veil does not trust X-Forwarded-For by default.)
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// withCORS answers cross-origin requests from the configured origins only (none by default).
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && s.originAllowed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Apollo-Require-Preflight, X-Apollo-Operation-Name, X-Requested-With, X-Request-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) originAllowed(origin string) bool {
	return slices.Contains(s.cfg.CORSOrigins, origin) || slices.Contains(s.cfg.CORSOrigins, "*")
}

// csrfGuard refuses multipart requests that a browser could send cross-site without a preflight
// (multipart/form-data is a "simple" content type): they must carry Authorization or one of the
// headers Apollo clients send, which a cross-site page cannot add without CORS approval.
func csrfSafe(r *http.Request) bool {
	for _, h := range []string{"Authorization", "Apollo-Require-Preflight", "X-Apollo-Operation-Name", "X-Requested-With"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}
