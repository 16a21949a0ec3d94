package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// The happy path on both subprotocols is TestSubscriptionsBothProtocols (subscriptions_test.go);
// these tests cover how each protocol refuses and ends connections. Waits are bounded by wsWait,
// which only decides how long a failing test takes.

const wsWait = 10 * time.Second

// wsProtocols are the subprotocols Veil speaks: graphql-transport-ws (the current protocol, spoken
// by the graphql-ws npm package) and the legacy subscriptions-transport-ws protocol, whose
// subprotocol name is "graphql-ws".
var wsProtocols = []struct {
	proto     string
	subscribe string // the client message that starts an operation
	stop      string // the client message that ends one
	data      string // the server message that carries a result
}{
	{"graphql-transport-ws", "subscribe", "complete", "next"},
	{"graphql-ws", "start", "stop", "data"},
}

// dialWSProto opens a websocket on proto without sending connection_init.
func dialWSProto(t *testing.T, srv *veiltest.Server, proto string) *wsClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: wsWait}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial %s (%v): %v", proto, resp, err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Subprotocol() != proto {
		t.Fatalf("negotiated %q, want %q", c.Subprotocol(), proto)
	}
	return &wsClient{t: t, c: c, proto: proto}
}

// initWSProto sends connection_init with token ("" = anonymous) and fails unless it is acknowledged.
func initWSProto(t *testing.T, w *wsClient, token string) {
	t.Helper()
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	w.send(map[string]any{"type": "connection_init", "payload": payload})
	if m, err := w.next(wsWait); err != nil || m["type"] != "connection_ack" {
		t.Fatalf("connection_init: %v %v, want connection_ack", m, err)
	}
}

// readUntilClose returns the messages received (keep-alives aside) before the server closed the
// socket, and the close frame; it fails if the socket stays open or ends without a close frame.
func readUntilClose(t *testing.T, w *wsClient) ([]map[string]any, *websocket.CloseError) {
	t.Helper()
	var msgs []map[string]any
	for {
		m, err := w.next(wsWait)
		if err == nil {
			msgs = append(msgs, m)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("after %v: %v, want a close frame", msgs, err)
		}
		return msgs, ce
	}
}

// nextFor returns the next message about operation id, skipping results of other operations.
func nextFor(t *testing.T, w *wsClient, id string) map[string]any {
	t.Helper()
	for {
		m, err := w.next(wsWait)
		if err != nil {
			t.Fatalf("waiting for a message about %s: %v", id, err)
		}
		if m["id"] == id {
			return m
		}
	}
}

// TestWSProtoBadToken: a token refused in connection_init closes the socket with 4403 Forbidden
// on both protocols. graphql-transport-ws says nothing before the close (the protocol has no
// message for it); the legacy protocol first sends connection_error with the reason.
func TestWSProtoBadToken(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, p := range wsProtocols {
		t.Run(p.proto, func(t *testing.T) {
			for _, tc := range []struct{ name, header, reason string }{
				{"unknown token", "Bearer veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense", "unauthenticated: invalid token"},
				{"malformed token", "Bearer nonsense", "unauthenticated: malformed token"},
				{"not a bearer token", "Basic dXNlcjpwYXNz", ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					w := dialWSProto(t, srv, p.proto)
					w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": tc.header}})
					msgs, ce := readUntilClose(t, w)
					if ce.Code != 4403 || ce.Text != "Forbidden" {
						t.Errorf("closed with %d %q, want 4403 Forbidden", ce.Code, ce.Text)
					}
					if p.proto == "graphql-transport-ws" {
						if len(msgs) != 0 {
							t.Errorf("messages before the close: %v, want none", msgs)
						}
						return
					}
					if len(msgs) != 1 || msgs[0]["type"] != "connection_error" {
						t.Fatalf("messages before the close: %v, want one connection_error", msgs)
					}
					msg, _ := msgs[0]["payload"].(map[string]any)["message"].(string)
					if !strings.HasPrefix(msg, "unauthenticated: ") || (tc.reason != "" && msg != tc.reason) {
						t.Errorf("connection_error message %q, want %q", msg, tc.reason)
					}
				})
			}
		})
	}
}

// TestWSProtoInitRequired: a client that never sends connection_init is disconnected once the
// init timeout (set to 500ms here; 10s by default) passes, and one that starts an operation before
// it is disconnected at once. The legacy protocol closes both with 1002 (gqlgen's choice);
// graphql-transport-ws with 4401 and 4408, as its protocol says (TestWSSubscribeBeforeInit4401,
// TestWSCloseInitTimeout4408).
func TestWSProtoInitRequired(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	cfg.WebsocketInitTimeout = 500 * time.Millisecond
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &cfg})
	for _, p := range wsProtocols {
		beforeInit, timeout := []any{websocket.CloseProtocolError, "unexpected message"}, []any{websocket.CloseProtocolError, "connection initialisation timeout"}
		if p.proto == "graphql-transport-ws" {
			beforeInit, timeout = []any{4401, "Unauthorized"}, []any{4408, "Connection initialisation timeout"}
		}
		t.Run(p.proto+"/operation before init", func(t *testing.T) {
			t.Parallel()
			w := dialWSProto(t, srv, p.proto)
			w.send(map[string]any{"id": "1", "type": p.subscribe, "payload": map[string]any{"query": `subscription { privacyChanged { mediaId } }`}})
			_, ce := readUntilClose(t, w)
			if ce.Code != beforeInit[0] || ce.Text != beforeInit[1] {
				t.Errorf("closed with %d %q, want %v", ce.Code, ce.Text, beforeInit)
			}
		})
		t.Run(p.proto+"/no init", func(t *testing.T) {
			t.Parallel()
			w := dialWSProto(t, srv, p.proto)
			_ = w.c.SetReadDeadline(time.Now().Add(cfg.WebsocketInitTimeout + wsWait))
			_, _, err := w.c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != timeout[0] || ce.Text != timeout[1] {
				t.Errorf("got %v, want close %v", err, timeout)
			}
		})
	}
}

// TestWSProtoReadLimit: a client message of exactly 64 KiB is read and answered; one byte more
// closes the socket with 1009 (message too big), and the server releases the subscriptions that
// connection held.
func TestWSProtoReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	for _, p := range wsProtocols {
		t.Run(p.proto, func(t *testing.T) {
			t.Parallel()
			srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
			w := dialWSProto(t, srv, p.proto)
			initWSProto(t, w, srv.AdminToken)
			w.subscribe("live", `subscription { privacyChanged { mediaId } }`)
			waitBusSubscribers(t, srv, 1)

			if err := w.c.WriteMessage(websocket.TextMessage, sizedOperation(t, p.subscribe, "fits", limit)); err != nil {
				t.Fatal(err)
			}
			if m := nextFor(t, w, "fits"); m["type"] != p.data || mustJSON(m["payload"]) != `{"data":{"__typename":"Query"}}` {
				t.Fatalf("a %d-byte message: %v, want the query's result", limit, m)
			}
			if m := nextFor(t, w, "fits"); m["type"] != "complete" {
				t.Fatalf("after the result: %v, want complete", m)
			}

			if err := w.c.WriteMessage(websocket.TextMessage, sizedOperation(t, p.subscribe, "too-big", limit+1)); err != nil {
				t.Fatal(err)
			}
			msgs, ce := readUntilClose(t, w)
			if ce.Code != websocket.CloseMessageTooBig {
				t.Errorf("a %d-byte message: closed with %d %q, want 1009", limit+1, ce.Code, ce.Text)
			}
			for _, m := range msgs {
				if m["id"] == "too-big" {
					t.Errorf("the oversized message was answered: %v", m)
				}
			}
			waitBusSubscribers(t, srv, 0)
		})
	}
}

// sizedOperation is a client message starting `{ __typename }` padded with a GraphQL comment to
// exactly size bytes.
func sizedOperation(t *testing.T, typ, id string, size int) []byte {
	t.Helper()
	msg := func(pad int) []byte {
		b, err := json.Marshal(map[string]any{"id": id, "type": typ, "payload": map[string]any{
			"query": "#" + strings.Repeat("x", pad) + "\nquery { __typename }",
		}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := msg(size - len(msg(0)))
	if len(b) != size {
		t.Fatalf("padded message is %d bytes, want %d", len(b), size)
	}
	return b
}

// TestWSProtoSubscriptionCap: one connection holds at most 20 subscriptions. The 21st gets a
// BAD_USER_INPUT error and is completed, while the 20 keep receiving events; the cap is per
// connection, and a subscription the client stops gives its slot back.
func TestWSProtoSubscriptionCap(t *testing.T) {
	t.Parallel()
	const capacity = 20
	for _, p := range wsProtocols {
		t.Run(p.proto, func(t *testing.T) {
			t.Parallel()
			srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
			img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
			w := dialWSProto(t, srv, p.proto)
			initWSProto(t, w, srv.AdminToken)
			const query = `subscription { privacyChanged { mediaId privacy } }`
			for i := range capacity {
				w.subscribe(fmt.Sprint("s", i), query)
			}
			waitBusSubscribers(t, srv, capacity)

			w.subscribe("over", query)
			m := nextFor(t, w, "over")
			if m["type"] != p.data {
				t.Fatalf("subscription %d: %v, want a %s message with the error", capacity+1, m, p.data)
			}
			var res sseResult // the same GraphQL response shape
			if err := json.Unmarshal([]byte(mustJSON(m["payload"])), &res); err != nil || len(res.Errors) != 1 ||
				res.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, "at most 20 subscriptions per connection") {
				t.Fatalf("subscription %d: %v, want one BAD_USER_INPUT error naming the cap", capacity+1, m)
			}
			if m := nextFor(t, w, "over"); m["type"] != "complete" {
				t.Fatalf("after the error: %v, want complete", m)
			}

			other := dialWSProto(t, srv, p.proto)
			initWSProto(t, other, srv.AdminToken)
			other.subscribe("o", query)
			waitBusSubscribers(t, srv, capacity+1)

			contentID := ssePublish(t, srv, "ws-cap", img.ID)
			got := map[string]bool{}
			for len(got) < capacity {
				m, err := w.next(wsWait)
				if err != nil {
					t.Fatalf("%d of %d subscriptions received the event: %v", len(got), capacity, err)
				}
				if m["type"] != p.data || !strings.Contains(mustJSON(m["payload"]), img.ID) || got[m["id"].(string)] {
					t.Fatalf("unexpected message %v", m)
				}
				got[m["id"].(string)] = true
			}
			if m := nextFor(t, other, "o"); m["type"] != p.data {
				t.Fatalf("second connection: %v", m)
			}

			// Stop s0. Its slot is given back when its context ends, which the client cannot
			// observe, so each try subscribes again and waits for either answer: an error
			// (refused, try again) or the bus holding the new subscription (accepted).
			w.send(map[string]any{"id": "s0", "type": p.stop})
			if m := nextFor(t, w, "s0"); m["type"] != "complete" {
				t.Fatalf("after stopping s0: %v, want complete", m)
			}
			waitBusSubscribers(t, srv, capacity)
			msgs := pumpWS(w)
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for try := 0; ; try++ {
				if try == 20 {
					t.Fatal("stopping a subscription never gave its slot back")
				}
				id := fmt.Sprint("again", try)
				w.subscribe(id, query)
				if !acceptedOrRefused(t, srv, msgs, tick, id, capacity+1) {
					continue
				}
				sseUnpublish(t, srv, contentID)
				for m := range msgs {
					if m["id"] != id {
						continue
					}
					if m["type"] != p.data || !strings.Contains(mustJSON(m["payload"]), `"privacy":"PRIVATE"`) {
						t.Fatalf("resubscribed: %v, want the unpublish", m)
					}
					return
				}
				t.Fatal("connection ended before the resubscribed event")
			}
		})
	}
}

// pumpWS reads w's messages (keep-alives aside) into a channel, closed when the socket ends.
// It owns the connection's reads from then on.
func pumpWS(w *wsClient) <-chan map[string]any {
	out := make(chan map[string]any, 64)
	go func() {
		defer close(out)
		_ = w.c.SetReadDeadline(time.Time{})
		for {
			var m map[string]any
			if err := w.c.ReadJSON(&m); err != nil {
				return
			}
			if m["type"] != "ka" && m["type"] != "ping" && m["type"] != "pong" {
				out <- m
			}
		}
	}()
	return out
}

// acceptedOrRefused waits until operation id is refused with an error (false; its complete is
// consumed) or the bus holds want subscribers (true).
func acceptedOrRefused(t *testing.T, srv *veiltest.Server, msgs <-chan map[string]any, tick *time.Ticker, id string, want int) bool {
	t.Helper()
	deadline := time.After(wsWait)
	refused := false
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("connection ended")
			}
			if m["id"] != id {
				continue
			}
			if m["type"] == "complete" && refused {
				return false
			}
			if !strings.Contains(mustJSON(m["payload"]), "at most 20 subscriptions") {
				t.Fatalf("operation %s: %v", id, m)
			}
			refused = true
		case <-tick.C:
			if !refused && srv.Media.Bus().Subscribers() == want {
				return true
			}
		case <-deadline:
			t.Fatalf("operation %s neither refused nor subscribed within %v", id, wsWait)
		}
	}
}

// TestWSProtoAuthRateLimit: failed websocket authentications are counted like failed HTTP ones
// (issue 14, item 9: per token id): past the limit the same token id is refused (4403, with the
// reason) and HTTP with it gets 429, while a valid token from the same address is accepted.
func TestWSProtoAuthRateLimit(t *testing.T) {
	acfg := auth.DefaultConfig()
	acfg.FailuresPerMinute = 3
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg})
	const bad = "veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense"
	attempt := func(token string) (string, *websocket.CloseError) {
		w := dialWSProto(t, srv, "graphql-ws")
		w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
		msgs, ce := readUntilClose(t, w)
		return mustJSON(msgs), ce
	}
	for range 3 {
		if msgs, ce := attempt(bad); ce.Code != 4403 || !strings.Contains(msgs, "unauthenticated") {
			t.Fatalf("bad token: %s %v", msgs, ce)
		}
	}
	if msgs, ce := attempt(bad); ce.Code != 4403 || !strings.Contains(msgs, "too many failed authentications") {
		t.Errorf("bad token past the limit: %s %v", msgs, ce)
	}
	w := dialWSProto(t, srv, "graphql-ws")
	initWSProto(t, w, srv.AdminToken)
	if got := srv.GraphQL(`{ me { id } }`, nil); len(got.Errors) > 0 {
		t.Errorf("HTTP with a valid token from the same address: %s", got.Raw)
	}
	if got := srv.As(bad).GraphQL(`{ me { id } }`, nil); got.Code() != "RATE_LIMITED" {
		t.Errorf("HTTP with the limited token id: %s", got.Raw)
	}
	if strings.Contains(srv.Logs.String(), "nonsense") {
		t.Error("a token reached the log")
	}
}
