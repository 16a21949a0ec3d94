package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

type wsClient struct {
	t     *testing.T
	c     *websocket.Conn
	proto string
}

func dialWS(t *testing.T, srv *veiltest.Server, proto, token string) *wsClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial (%v): %v", resp, err)
	}
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, c: c, proto: proto}
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	w.send(map[string]any{"type": "connection_init", "payload": payload})
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatal(err)
	}
}

// next returns the next message that is not a keep-alive.
func (w *wsClient) next(timeout time.Duration) (map[string]any, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		var m map[string]any
		if err := w.c.ReadJSON(&m); err != nil {
			return nil, err
		}
		if m["type"] == "ka" || m["type"] == "ping" || m["type"] == "pong" {
			continue
		}
		return m, nil
	}
}

func (w *wsClient) subscribe(id, query string) {
	typ := "subscribe"
	if w.proto == "graphql-ws" {
		typ = "start"
	}
	w.send(map[string]any{"id": id, "type": typ, "payload": map[string]any{"query": query}})
}

func publishOne(t *testing.T, srv *veiltest.Server, imageID string) string {
	t.Helper()
	var up struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation($m: ID!) { upsertContent(input: {kind: "page", key: "home", references: [{mediaId: $m}]}) { id } }`,
		map[string]any{"m": imageID}).Decode(t, &up)
	srv.GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": up.UpsertContent.ID}).Decode(t, &struct{}{})
	return up.UpsertContent.ID
}

// TestSubscriptionsBothProtocols: a privacy change reaches subscribers on graphql-transport-ws and
// on the legacy graphql-ws protocol, authenticated in connection_init.
func TestSubscriptionsBothProtocols(t *testing.T) {
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
			img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
			ws := dialWS(t, srv, proto, srv.AdminToken)
			if m, err := ws.next(5 * time.Second); err != nil || m["type"] != "connection_ack" {
				t.Fatalf("init: %v %v", m, err)
			}
			ws.subscribe("1", `subscription { privacyChanged { mediaId privacy cause contentId } }`)
			ws.subscribe("2", `subscription { filePermissionResults { mediaId key public ok complete files failed } }`)
			waitSubscribers(t, srv, 2)
			contentID := publishOne(t, srv, img.ID)
			got := map[string]map[string]any{}
			deadline := time.Now().Add(5 * time.Second)
			for len(got) < 2 && time.Now().Before(deadline) {
				m, err := ws.next(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if m["type"] != "next" && m["type"] != "data" {
					t.Fatalf("unexpected message %v", m)
				}
				data := m["payload"].(map[string]any)["data"].(map[string]any)
				for k, v := range data {
					ev := v.(map[string]any)
					if k == "filePermissionResults" && ev["complete"] != true {
						continue
					}
					got[k] = ev
				}
			}
			pc := got["privacyChanged"]
			if pc == nil || pc["mediaId"] != img.ID || pc["privacy"] != "PUBLIC" || pc["cause"] != "publish" || pc["contentId"] != contentID {
				t.Errorf("privacyChanged = %v", pc)
			}
			if fp := got["filePermissionResults"]; fp == nil || fp["mediaId"] != img.ID || fp["ok"] != true || fp["public"] != true {
				t.Errorf("filePermissionResults = %v", fp)
			}
		})
	}
}

// TestSubscriptionAuth: a bad token closes the socket with the protocol's code; an anonymous
// subscriber receives only events of public items.
func TestSubscriptionAuth(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	ws := dialWS(t, srv, "graphql-transport-ws", "veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense")
	_, err := ws.next(5 * time.Second)
	var ce *websocket.CloseError
	if !asCloseError(err, &ce) || ce.Code != 4403 {
		t.Errorf("bad token: %v, want close 4403", err)
	}

	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
	anon := dialWS(t, srv, "graphql-transport-ws", "")
	if m, err := anon.next(5 * time.Second); err != nil || m["type"] != "connection_ack" {
		t.Fatalf("anonymous init: %v %v", m, err)
	}
	anon.subscribe("1", `subscription { privacyChanged { mediaId privacy } }`)
	waitSubscribers(t, srv, 1)
	contentID := publishOne(t, srv, img.ID)
	m, err := anon.next(5 * time.Second)
	if err != nil || !strings.Contains(mustJSON(m), `"privacy":"PUBLIC"`) {
		t.Fatalf("anonymous should see the item turn public: %v %v", m, err)
	}
	srv.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": contentID}).Decode(t, &struct{}{})
	if m, err := anon.next(700 * time.Millisecond); err == nil {
		t.Errorf("anonymous received an event of a now-private item: %v", m)
	}
	var n int
	_ = srv.DB.NewSelect().Model((*models.Image)(nil)).ColumnExpr("count(*)").Where("privacy = 'PRIVATE'").Scan(t.Context(), &n)
	if n != 1 {
		t.Errorf("private images = %d", n)
	}
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var _ = http.StatusOK

// waitSubscribers polls until the server's event bus has n subscribers.
func waitSubscribers(t testing.TB, srv *veiltest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for srv.Media.Bus().Subscribers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d subscriptions registered", srv.Media.Bus().Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
