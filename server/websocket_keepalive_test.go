package server_test

import (
	"testing"
	"time"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// TestWebsocketKeepAlive: keep-alives arrive on both protocols at the configured interval ("ka" on
// graphql-ws, "ping" on graphql-transport-ws); init timeout, read limit and the subscription cap are
// in wsprotocols_test.go.
func TestWebsocketKeepAlive(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.WebsocketKeepAlive = 100 * time.Millisecond
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &cfg})

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
}
