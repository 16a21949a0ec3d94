package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
)

// withAuth resolves the request's viewer from "Authorization: Bearer <token>". No header is the
// anonymous viewer; a bad, expired or revoked token is refused with 401 (never treated as
// anonymous). Failed attempts are limited as auth.Service.AuthenticateFrom describes: past the
// limit a failing attempt gets 429 until its window ends, a valid token never does.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestIDOf(w)
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r.WithContext(auth.WithViewer(withRequestIDValue(r.Context(), id), auth.Anonymous)))
			return
		}
		if tok, ok := previewToken(header); ok {
			s.withPreviewToken(next, w, r.WithContext(withRequestIDValue(r.Context(), id)), tok)
			return
		}
		addr := s.clientAddr(r)
		v, err := s.deps.Auth.AuthenticateFrom(r.Context(), header, addr)
		if err != nil {
			var rl *auth.RateLimitedError
			switch {
			case errors.As(err, &rl):
				w.Header().Set("Retry-After", strconv.Itoa(int(rl.Wait.Seconds())+1))
				s.authError(w, r, http.StatusTooManyRequests, CodeRateLimited, "too many failed authentications with these credentials; retry later")
			case errors.Is(err, auth.ErrUnauthenticated):
				s.log.InfoContext(r.Context(), "authentication failed", "request_id", id, "addr", addr, "reason", err.Error())
				w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
				s.authError(w, r, http.StatusUnauthorized, CodeUnauthenticated, fault.Message(err))
			case models.Unavailable(err):
				s.log.ErrorContext(r.Context(), "authentication: database unavailable", "request_id", id, "err", err)
				w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
				s.authError(w, r, http.StatusServiceUnavailable, CodeDatabaseUnavailable, "the database is unavailable; try again later (request id "+id+")")
			default:
				s.log.ErrorContext(r.Context(), "authentication error", "request_id", id, "err", err)
				s.authError(w, r, http.StatusInternalServerError, CodeInternal, "internal error (request id "+id+")")
			}
			return
		}
		ctx := auth.WithViewer(withRequestIDValue(r.Context(), id), v)
		if isStream(r) {
			// A stream outlives this check: its session re-resolves the token while it lasts.
			ctx = auth.WithSession(ctx, s.deps.Auth.NewSession(v, header))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
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
func (s *Server) withClientAddr(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, s.clientAddr(r))
}

func clientAddrFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// clientAddr is the address of the client: the TCP peer, unless the peer is a trusted proxy
// (VEIL_TRUSTED_PROXIES). Then X-Forwarded-For is read from the right, skipping trusted proxies;
// the first address that is not one is the client (the rightmost-untrusted rule: entries left of
// it were written by the client and prove nothing). When every hop is trusted, the leftmost is.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(host) {
		return host
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(a))
		}
	}
	client := host
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			// Not an address: the hop to its right (a trusted proxy) is all that is known.
			return client
		}
		client = a.Unmap().String()
		if !s.trusted(client) {
			return client
		}
	}
	return client
}

func (s *Server) trusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxy parses one VEIL_TRUSTED_PROXIES entry: a CIDR or a single address.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// withCORS answers cross-origin requests from the configured origins only (none by default).
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && s.originAllowed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			tus := strings.HasPrefix(r.URL.Path, TusPath)
			if tus {
				h.Set("Access-Control-Expose-Headers", tusExposeHeaders)
			} else {
				h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if tus {
					h.Set("Access-Control-Allow-Methods", "POST, HEAD, PATCH, DELETE, OPTIONS")
					h.Set("Access-Control-Allow-Headers", tusAllowHeaders)
				} else {
					h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS") // PUT: presigned uploads
					h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Apollo-Require-Preflight, X-Apollo-Operation-Name, X-Requested-With, X-Request-ID")
				}
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

// withPreviewToken serves a request whose Authorization header carries a preview token: its
// viewer is anonymous, and the token lets it read exactly the media of its content's draft that
// the token's creator may read (media.WithPreviewOnly; on /graphql, queries of those items only,
// see previewScope). An invalid or expired token, or one whose creator is no longer active, is
// 401.
func (s *Server) withPreviewToken(next http.Handler, w http.ResponseWriter, r *http.Request, tok string) {
	contentID, creator, err := s.deps.Auth.OpenPreview(r.Context(), tok)
	switch {
	case errors.Is(err, auth.ErrBadPreviewToken):
		s.log.InfoContext(r.Context(), "preview token refused", "request_id", RequestID(r.Context()), "reason", err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
		s.authError(w, r, http.StatusUnauthorized, CodeUnauthenticated, "invalid or expired preview token")
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "preview token error", "request_id", RequestID(r.Context()), "err", err)
		s.authError(w, r, http.StatusInternalServerError, CodeInternal, "internal error (request id "+RequestID(r.Context())+")")
		return
	}
	ctx := media.WithPreviewOnly(auth.WithViewer(r.Context(), auth.Anonymous), contentID, creator)
	next.ServeHTTP(w, r.WithContext(ctx))
}
