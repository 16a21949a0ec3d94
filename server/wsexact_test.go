package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// These tests pin the close codes of graphql-transport-ws
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) and the forms in which clients
// send credentials. The legacy graphql-ws protocol keeps gqlgen's behaviour
// (TestWSProtoInitRequired).

const transportWS = "graphql-transport-ws"

// expectClose reads until the server closes w and fails unless it closed with code and reason.
func expectClose(t *testing.T, w *wsClient, code int, reason string) {
	t.Helper()
	msgs, ce := readUntilClose(t, w)
	if ce.Code != code || ce.Text != reason {
		t.Errorf("closed with %d %q after %v, want %d %q", ce.Code, ce.Text, msgs, code, reason)
	}
}

// TestWSCloseInitTimeout4408: no connection_init within the init timeout closes with 4408.
func TestWSCloseInitTimeout4408(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	cfg.WebsocketInitTimeout = 200 * time.Millisecond
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &cfg})
	w := dialWSProto(t, srv, transportWS)
	expectClose(t, w, 4408, "Connection initialisation timeout")
}

// TestWSSubscribeBeforeInit4401: a subscribe before the init is acknowledged closes with 4401.
func TestWSSubscribeBeforeInit4401(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	w := dialWSProto(t, srv, transportWS)
	w.subscribe("1", `subscription { privacyChanged { mediaId } }`)
	expectClose(t, w, 4401, "Unauthorized")
}

// TestWSSecondInit4429: a second connection_init closes with 4429.
func TestWSSecondInit4429(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	w := dialWSProto(t, srv, transportWS)
	initWSProto(t, w, srv.AdminToken)
	w.send(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	expectClose(t, w, 4429, "Too many initialisation requests")
}

// TestWSBadMessage4400: a message that is not JSON, has no or an unknown type, is one only the
// server sends, or a subscribe without an id, closes with 4400 and a reason, before or after init.
func TestWSBadMessage4400(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, tc := range []struct {
		name     string
		afterAck bool
		msg      string
		reason   string
	}{
		{"not json before init", false, `{"type":`, "Invalid message received"},
		{"not json", true, `not json`, "Invalid message received"},
		{"type not a string", true, `{"type": 7}`, "Invalid message received"},
		{"no type", true, `{"id": "1"}`, "Message has no type"},
		{"unknown type", true, `{"type": "start", "id": "1"}`, "Invalid message type start"},
		{"unknown type before init", false, `{"type": "hello"}`, "Invalid message type hello"},
		{"server message", true, `{"type": "next", "id": "1", "payload": {}}`, "Invalid message type next"},
		{"subscribe without id", true, `{"type": "subscribe", "payload": {"query": "{ me { id } }"}}`, "Subscribe message requires an id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWSProto(t, srv, transportWS)
			if tc.afterAck {
				initWSProto(t, w, srv.AdminToken)
			}
			if err := w.c.WriteMessage(websocket.TextMessage, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			expectClose(t, w, 4400, tc.reason)
		})
	}
}

// TestWSDuplicateID4409: a subscribe whose id belongs to a running operation closes with 4409
// (before, both ran and every event arrived twice). An id is free again once its operation
// completed, whether the server or the client completed it.
func TestWSDuplicateID4409(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	w := dialWSProto(t, srv, transportWS)
	initWSProto(t, w, srv.AdminToken)

	// Completed by the server: a query answers once, then completes.
	for range 2 {
		w.subscribe("q", `query { me { id } }`)
		if m := nextFor(t, w, "q"); m["type"] != "next" {
			t.Fatalf("query: %v, want next", m)
		}
		if m := nextFor(t, w, "q"); m["type"] != "complete" {
			t.Fatalf("query: %v, want complete", m)
		}
	}
	// Completed by the client.
	const sub = `subscription { privacyChanged { mediaId } }`
	w.subscribe("s", sub)
	waitBusSubscribers(t, srv, 1)
	w.send(map[string]any{"id": "s", "type": "complete"})
	if m := nextFor(t, w, "s"); m["type"] != "complete" {
		t.Fatalf("after completing s: %v, want complete", m)
	}
	waitBusSubscribers(t, srv, 0)
	w.subscribe("s", sub)
	waitBusSubscribers(t, srv, 1)

	w.subscribe("s", sub)
	expectClose(t, w, 4409, "Subscriber for s already exists")
}

// TestWSAuthForms: credentials are read from connection_init as {"Authorization": …},
// {"authorization": …} and {"headers": {"Authorization" or "authorization": …}}, and from the
// Authorization header of the upgrade request. A token that fails in any of these forms is
// refused with 4403, never downgraded to anonymous.
func TestWSAuthForms(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	payloads := map[string]func(h string) map[string]any{
		"Authorization":         func(h string) map[string]any { return map[string]any{"Authorization": h} },
		"authorization":         func(h string) map[string]any { return map[string]any{"authorization": h} },
		"headers/Authorization": func(h string) map[string]any { return map[string]any{"headers": map[string]any{"Authorization": h}} },
		"headers/authorization": func(h string) map[string]any { return map[string]any{"headers": map[string]any{"authorization": h}} },
		"upgrade header":        nil,
	}
	dial := func(t *testing.T, header string, payload map[string]any) *wsClient {
		t.Helper()
		d := websocket.Dialer{Subprotocols: []string{transportWS}, HandshakeTimeout: wsWait}
		hdr := http.Header{}
		if header != "" {
			hdr.Set("Authorization", header)
		}
		c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", hdr)
		if err != nil {
			t.Fatalf("dial (%v): %v", resp, err)
		}
		t.Cleanup(func() { c.Close() })
		w := &wsClient{t: t, c: c, proto: transportWS}
		w.send(map[string]any{"type": "connection_init", "payload": payload})
		return w
	}
	me := func(t *testing.T, w *wsClient) string {
		t.Helper()
		if m, err := w.next(wsWait); err != nil || m["type"] != "connection_ack" {
			t.Fatalf("connection_init: %v %v, want connection_ack", m, err)
		}
		w.subscribe("me", `query { me { id } }`)
		m := nextFor(t, w, "me")
		return mustJSON(m["payload"])
	}
	anonymous := me(t, dial(t, "", map[string]any{}))
	if anonymous != `{"data":{"me":null}}` {
		t.Fatalf("anonymous me = %s", anonymous)
	}
	good, bad := "Bearer "+srv.AdminToken, "Bearer veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense"
	for name, payload := range payloads {
		t.Run(name, func(t *testing.T) {
			var w *wsClient
			if payload == nil {
				w = dial(t, good, map[string]any{})
			} else {
				w = dial(t, "", payload(good))
			}
			if got := me(t, w); !strings.Contains(got, `"me":{"id":"`) {
				t.Errorf("me = %s, want the admin", got)
			}
			if payload == nil {
				// A bad upgrade header is refused before the upgrade (TestWSProto*, withAuth).
				return
			}
			expectClose(t, dial(t, "", payload(bad)), 4403, "Forbidden")
		})
	}
	t.Run("not a string", func(t *testing.T) {
		expectClose(t, dial(t, "", map[string]any{"Authorization": 42}), 4403, "Forbidden")
		expectClose(t, dial(t, "", map[string]any{"headers": map[string]any{"Authorization": nil}}), 4403, "Forbidden")
	})
	t.Run("payload over upgrade header", func(t *testing.T) {
		expectClose(t, dial(t, good, map[string]any{"Authorization": bad}), 4403, "Forbidden")
	})
}
