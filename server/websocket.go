package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/media"
)

// gorillaWebsocket adapts gorilla/websocket to gqlgen's websocket transport.
type gorillaWebsocket struct {
	upgrader     websocket.Upgrader
	writeTimeout time.Duration
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
	gc := &gorillaConn{c: c, writeTimeout: g.writeTimeout, active: map[string]bool{}}
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
// stalled client cannot hold a sender forever. On graphql-transport-ws it also polices what the
// client sends (see NextReader) and ends the connection with the close codes the protocol names,
// where gqlgen would close with 1002 or 1000 or, for a reused id, run two operations.
type gorillaConn struct {
	c            *websocket.Conn
	writeTimeout time.Duration
	mu           sync.Mutex // held while writing

	// Protocol state of a graphql-transport-ws connection, guarded by smu.
	smu      sync.Mutex
	initSeen bool            // connection_init received
	active   map[string]bool // ids of the client's operations still running
	closed   bool            // closed by the adapter: later writes are dropped
}

const transportWS = "graphql-transport-ws"

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
	if err != nil || g.c.Subprotocol() != transportWS {
		return t, r, err
	}
	b, err := io.ReadAll(r) // bounded by the read limit gqlgen sets
	if err != nil {
		return t, nil, err
	}
	if code, reason := g.police(b); code != 0 {
		g.closeWith(code, reason)
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, bytes.NewReader(b), nil
}

// police checks one client message of graphql-transport-ws against the protocol and returns the
// close code and reason it calls for, or 0 to let gqlgen handle the message.
func (g *gorillaConn) police(b []byte) (int, string) {
	var m struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return 4400, "Invalid message received"
	}
	g.smu.Lock()
	defer g.smu.Unlock()
	switch m.Type {
	case "connection_init":
		if g.initSeen {
			return 4429, "Too many initialisation requests"
		}
		g.initSeen = true
	case "subscribe":
		switch {
		case !g.initSeen:
			return 4401, "Unauthorized"
		case m.ID == "":
			return 4400, "Subscribe message requires an id"
		case g.active[m.ID]:
			return 4409, "Subscriber for " + m.ID + " already exists"
		}
		g.active[m.ID] = true
	case "complete":
		delete(g.active, m.ID) // the client may reuse an id it completed
	case "ping", "pong":
	case "":
		return 4400, "Message has no type"
	default:
		return 4400, "Invalid message type " + m.Type
	}
	return 0, ""
}

// closeWith closes the connection with code and reason (cut to what a close frame holds); gqlgen's
// own close that follows, and any later write, is dropped.
func (g *gorillaConn) closeWith(code int, reason string) {
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	_ = g.WriteClose(code, reason)
	g.smu.Lock()
	g.closed = true
	g.smu.Unlock()
	_ = g.c.Close()
}

func (g *gorillaConn) isClosed() bool {
	g.smu.Lock()
	defer g.smu.Unlock()
	return g.closed
}

func (g *gorillaConn) WriteJSON(v any) error {
	if g.isClosed() {
		return net.ErrClosed
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if g.c.Subprotocol() == transportWS && (bytes.HasSuffix(b, []byte(`"type":"complete"}`)) || bytes.HasSuffix(b, []byte(`"type":"error"}`))) {
		// An operation ended by the server frees its id before the client can learn of it.
		// gqlgen marshals "type" last, so only these frames are decoded, never the results
		// (TestWSDuplicateID4409 notices if that order changes).
		var m struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(b, &m) == nil && (m.Type == "complete" || m.Type == "error") {
			g.smu.Lock()
			delete(g.active, m.ID)
			g.smu.Unlock()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.c.SetWriteDeadline(time.Now().Add(g.writeTimeout))
	if err := g.c.WriteMessage(websocket.TextMessage, b); err != nil {
		// gqlgen only reports a failed write and carries on, and every later write on the
		// connection fails at once: a client that stopped reading past the deadline would keep its
		// subscriptions (and their relays) for as long as it holds the socket open. Closing the
		// connection ends its read loop, and with it the connection's operations.
		g.smu.Lock()
		g.closed = true
		g.smu.Unlock()
		_ = g.c.Close()
		return err
	}
	return nil
}

func (g *gorillaConn) WriteClose(code int, msg string) error {
	if g.isClosed() {
		return net.ErrClosed
	}
	if code == transport.WebsocketCloseProtocolError && msg == "connection initialisation timeout" && g.c.Subprotocol() == transportWS {
		// gqlgen's init timeout; graphql-transport-ws names its own code for it.
		code, msg = 4408, "Connection initialisation timeout"
	}
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
		}, writeTimeout: s.cfg.WebsocketWriteTimeout},
		InitTimeout:           s.cfg.WebsocketInitTimeout,
		KeepAlivePingInterval: s.cfg.WebsocketKeepAlive, // legacy graphql-ws: "ka" messages
		// graphql-transport-ws: "ping" messages. A client that does not answer with "pong" is not
		// closed for it: a stalled client is caught by the write deadline instead.
		PingPongInterval: s.cfg.WebsocketKeepAlive,
		MissingPongOk:    true,
		PayloadReadLimit: &limit,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			addr := clientAddrFrom(ctx)
			refuse := func(reason string) (context.Context, *transport.InitPayload, error) {
				// graphql-transport-ws: 4403 Forbidden closes a connection whose init is refused.
				ctx = transport.WithWebsocketCloseCode(ctx, 4403)
				ctx = transport.AppendCloseReason(ctx, "Forbidden")
				return ctx, nil, errors.New(reason)
			}
			header, found := initAuthorization(p)
			if found && header == "" {
				return refuse("unauthenticated: the Authorization in connection_init must be a non-empty string")
			}
			if !found {
				if sess := auth.SessionFrom(ctx); sess != nil {
					// Authenticated by the Authorization header of the upgrade request (withAuth):
					// that session carries on, re-checked as it lasts.
					v, err := sess.Viewer(ctx)
					switch {
					case errors.Is(err, auth.ErrUnauthenticated):
						return refuse("unauthenticated: " + fault.Message(err))
					case err != nil || v == nil:
						s.log.ErrorContext(ctx, "websocket authentication error", "err", err)
						return refuse("internal error")
					}
					return s.websocketAuthenticated(ctx, v, sess, addr), nil, nil
				}
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
					return refuse("unauthenticated: " + fault.Message(err))
				}
				s.log.ErrorContext(ctx, "websocket authentication error", "err", err)
				return refuse("internal error")
			}
			return s.websocketAuthenticated(ctx, v, s.deps.Auth.NewSession(v, header), addr), nil, nil
		},
	}
}

// websocketAuthenticated is the context of a connection whose init authenticated v: its viewer,
// its session (watched: credentials that stop being valid end the connection with 4403) and its
// subscription budget.
func (s *Server) websocketAuthenticated(ctx context.Context, v *auth.Viewer, sess *auth.Session, addr string) context.Context {
	ctx = auth.WithViewer(ctx, v)
	ctx = auth.WithSession(ctx, sess)
	ctx = media.WithSubscriptionBudget(ctx, maxSubscriptionsPerConnection)
	if h, ok := ctx.Value(wsConnKey{}).(*wsConnHolder); ok && h.get() != nil {
		// Owned by the connection: ctx ends when its handler returns.
		go sess.Watch(ctx, func(err error) {
			s.log.InfoContext(ctx, "websocket closed: credentials no longer valid", "addr", addr, "reason", err.Error())
			h.get().closeForbidden("unauthenticated: " + fault.Message(err))
		})
	}
	return ctx
}

// initAuthorization finds the credentials of a connection_init payload in the forms clients send:
// {"Authorization": …} and {"headers": {"Authorization": …}}, the key in any case. found reports
// a key present; header is "" when its value is not a string (which the caller refuses rather than
// treat as anonymous).
func initAuthorization(p transport.InitPayload) (header string, found bool) {
	lookup := func(m map[string]any) (string, bool) {
		for k, v := range m {
			if strings.EqualFold(k, "authorization") {
				h, _ := v.(string)
				return h, true
			}
		}
		return "", false
	}
	if h, ok := lookup(p); ok {
		return h, true
	}
	for k, v := range p {
		if hs, ok := v.(map[string]any); ok && strings.EqualFold(k, "headers") {
			return lookup(hs)
		}
	}
	return "", false
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
