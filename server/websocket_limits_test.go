package server_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// TestWebsocketLimits: a connection that never sends connection_init is closed after the init
// timeout; a message over the read limit closes the connection; keep-alives arrive on both
// protocols; the 21st subscription on one connection is refused with a clear error while the first
// 20 keep working.
func TestWebsocketLimits(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.WebsocketInitTimeout = 300 * time.Millisecond
	cfg.WebsocketKeepAlive = 100 * time.Millisecond
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &cfg})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"

	t.Run("init timeout", func(t *testing.T) {
		for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
			c, _, err := websocket.DefaultDialer.Dial(url, map[string][]string{"Sec-WebSocket-Protocol": {proto}})
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var closeErr *websocket.CloseError
			for {
				_, _, err = c.ReadMessage()
				if err != nil {
					break
				}
			}
			c.Close()
			if errors.As(err, &closeErr) {
				// The protocol suggests 4408; gqlgen closes with 1002 and says why.
				if proto == "graphql-transport-ws" && !strings.Contains(closeErr.Text, "initialisation timeout") {
					t.Errorf("%s: closed with %d %q, want an init timeout", proto, closeErr.Code, closeErr.Text)
				}
			} else if strings.Contains(err.Error(), "timeout") {
				t.Errorf("%s: still open 10s after a 300ms init timeout", proto)
			}
		}
	})

	t.Run("read limit", func(t *testing.T) {
		ws := dialWS(t, srv, "graphql-transport-ws", srv.AdminToken)
		if m, err := ws.next(5 * time.Second); err != nil || m["type"] != "connection_ack" {
			t.Fatalf("init: %v %v", m, err)
		}
		huge := `subscription { privacyChanged { mediaId ` + strings.Repeat("privacy ", 20000) + `} }`
		_ = ws.c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": huge}})
		_, err := ws.next(5 * time.Second)
		var closeErr *websocket.CloseError
		if !errors.As(err, &closeErr) || closeErr.Code != websocket.CloseMessageTooBig {
			t.Errorf("a 160 KB message: %v, want close 1009 (message too big)", err)
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		for proto, want := range map[string]string{"graphql-transport-ws": "ping", "graphql-ws": "ka"} {
			ws := dialWS(t, srv, proto, srv.AdminToken)
			_ = ws.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			seen := false
			for range 10 {
				var m map[string]any
				if err := ws.c.ReadJSON(&m); err != nil {
					t.Fatalf("%s: %v", proto, err)
				}
				if m["type"] == want {
					seen = true
					break
				}
			}
			if !seen {
				t.Errorf("%s: no %q keep-alive", proto, want)
			}
		}
	})

	t.Run("subscriptions per connection", func(t *testing.T) {
		ws := dialWS(t, srv, "graphql-transport-ws", srv.AdminToken)
		if m, err := ws.next(5 * time.Second); err != nil || m["type"] != "connection_ack" {
			t.Fatalf("init: %v %v", m, err)
		}
		before := srv.Media.Bus().Subscribers()
		for i := range 20 {
			ws.subscribe(string(rune('a'+i)), `subscription { privacyChanged { mediaId } }`)
		}
		waitSubscribers(t, srv, before+20)
		ws.subscribe("over", `subscription { privacyChanged { mediaId } }`)
		m, err := ws.next(5 * time.Second)
		if err != nil || (m["type"] != "error" && m["type"] != "next") || m["id"] != "over" ||
			!strings.Contains(mustJSON(m), "at most 20 subscriptions") || !strings.Contains(mustJSON(m), "BAD_USER_INPUT") {
			t.Errorf("21st subscription: %v %v", m, err)
		}
		if n := srv.Media.Bus().Subscribers(); n != before+20 {
			t.Errorf("subscribers %d, want %d", n, before+20)
		}
	})
}
