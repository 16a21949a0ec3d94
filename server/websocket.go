package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
)

// gorillaWebsocket adapts gorilla/websocket to gqlgen's websocket transport.
type gorillaWebsocket struct {
	upgrader websocket.Upgrader
}

var _ transport.WebsocketImplementation = gorillaWebsocket{}

func (g gorillaWebsocket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	up := g.upgrader
	for _, p := range opts.Subprotocols {
		if !slices.Contains(up.Subprotocols, p) {
			up.Subprotocols = append(up.Subprotocols, p)
		}
	}
	c, err := up.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	gc := &gorillaConn{c: c}
	if h, ok := r.Context().Value(wsConnKey{}).(*wsConnHolder); ok {
		h.set(gc)
	}
	return gc, nil
}

// wsConnKey carries a *wsConnHolder from the handler to Accept, so that code seeing only the
// connection's context (InitFunc, the session watcher) can end the connection with a code of its
// choosing; gqlgen itself closes a cancelled connection with 1000.
type wsConnKey struct{}

type wsConnHolder struct {
	mu sync.Mutex
	c  *gorillaConn
}

func (h *wsConnHolder) set(c *gorillaConn) {
	h.mu.Lock()
	h.c = c
	h.mu.Unlock()
}

func (h *wsConnHolder) get() *gorillaConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.c
}

// closeForbidden ends a connection whose credentials stopped being valid, as a refused
// connection_init is ended on each protocol: the legacy graphql-ws protocol first says why in a
// connection_error message; both close with 4403 Forbidden.
func (g *gorillaConn) closeForbidden(reason string) {
	if g.c.Subprotocol() != "graphql-transport-ws" {
		_ = g.WriteJSON(map[string]any{"type": "connection_error", "payload": map[string]any{"message": reason}})
	}
	_ = g.WriteClose(4403, "Forbidden")
	_ = g.c.Close()
}

// gorillaConn serialises writes (gorilla allows one writer at a time) and bounds each write, so a
// stalled client cannot hold a sender forever.
type gorillaConn struct {
	c  *websocket.Conn
	mu sync.Mutex
}

const writeTimeout = 10 * time.Second

var (
	_ transport.WebsocketReadLimiter   = (*gorillaConn)(nil)
	_ transport.WebsocketReadDeadliner = (*gorillaConn)(nil)
)

func (g *gorillaConn) Close() error { return g.c.Close() }

func (g *gorillaConn) NextReader() (int, io.Reader, error) {
	t, r, err := g.c.NextReader()
	if err != nil && websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

func (g *gorillaConn) WriteJSON(v any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return g.c.WriteJSON(v)
}

func (g *gorillaConn) WriteClose(code int, msg string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg), time.Now().Add(time.Second))
}

func (g *gorillaConn) Subprotocol() string               { return g.c.Subprotocol() }
func (g *gorillaConn) SetReadLimit(limit int64)          { g.c.SetReadLimit(limit) }
func (g *gorillaConn) SetReadDeadline(t time.Time) error { return g.c.SetReadDeadline(t) }

// maxSubscriptionsPerConnection caps concurrent subscriptions on one websocket.
const maxSubscriptionsPerConnection = 20

func (s *Server) websocketTransport() transport.Websocket {
	limit := int64(64 << 10)
	return transport.Websocket{
		Implementation: gorillaWebsocket{upgrader: websocket.Upgrader{
			ReadBufferSize: 4096, WriteBufferSize: 4096,
			CheckOrigin: s.websocketOriginAllowed,
		}},
		InitTimeout:           s.cfg.WebsocketInitTimeout,
		KeepAlivePingInterval: s.cfg.WebsocketKeepAlive, // legacy graphql-ws: "ka" messages
		// graphql-transport-ws: "ping" messages. A client that does not answer with "pong" is not
		// closed for it: a stalled client is caught by the write deadline instead.
		PingPongInterval: s.cfg.WebsocketKeepAlive,
		MissingPongOk:    true,
		PayloadReadLimit: &limit,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			header := p.Authorization()
			if header == "" {
				if v, ok := p["Authorization"].(string); ok {
					header = v
				}
			}
			addr := clientAddrFrom(ctx)
			refuse := func(reason string) (context.Context, *transport.InitPayload, error) {
				// graphql-transport-ws: 4403 Forbidden closes a connection whose init is refused.
				ctx = transport.WithWebsocketCloseCode(ctx, 4403)
				ctx = transport.AppendCloseReason(ctx, "Forbidden")
				return ctx, nil, errors.New(reason)
			}
			v, err := s.deps.Auth.AuthenticateFrom(ctx, header, addr)
			if err != nil {
				var rl *auth.RateLimitedError
				if errors.As(err, &rl) {
					return refuse("too many failed authentications with these credentials; retry later")
				}
				if errors.Is(err, auth.ErrUnauthenticated) {
					// Counted and logged like a failed HTTP authentication, never with the token.
					s.log.InfoContext(ctx, "websocket authentication failed", "addr", addr, "reason", err.Error())
					return refuse("unauthenticated: " + strings.TrimPrefix(err.Error(), "unauthenticated: "))
				}
				s.log.ErrorContext(ctx, "websocket authentication error", "err", err)
				return refuse("internal error")
			}
			sess := s.deps.Auth.NewSession(v, header)
			ctx = auth.WithViewer(ctx, v)
			ctx = auth.WithSession(ctx, sess)
			ctx = media.WithSubscriptionBudget(ctx, maxSubscriptionsPerConnection)
			if h, ok := ctx.Value(wsConnKey{}).(*wsConnHolder); ok && h.get() != nil {
				// Owned by the connection: ctx ends when its handler returns.
				go sess.Watch(ctx, func(err error) {
					s.log.InfoContext(ctx, "websocket closed: credentials no longer valid", "addr", addr, "reason", err.Error())
					h.get().closeForbidden("unauthenticated: " + strings.TrimPrefix(err.Error(), "unauthenticated: "))
				})
			}
			return ctx, nil, nil
		},
	}
}

// websocketOriginAllowed accepts same-origin and non-browser clients, and the configured CORS
// origins; any other browser origin is refused.
func (s *Server) websocketOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return s.originAllowed(origin)
}
