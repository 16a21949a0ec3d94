package server_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/veiltest"
)

// Issue 14, item 3: a long-lived connection (websocket on either protocol, or server-sent events)
// stops delivering what its viewer may no longer see: a revoked or expired token or a deactivated
// user ends it (websockets close with 4403, SSE streams end) before any further event; a lost
// grant filters the events of that collection out while the others keep coming.

// testClock is an auth clock the test moves instead of sleeping.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time           { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration)  { c.offset.Add(int64(d)) }
func (c *testClock) authConfig() *auth.Config { a := auth.DefaultConfig(); a.Clock = c.now; return &a }
func liveVars(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// liveWorld: two collections A and B, a private image in each, and a user whose group may VIEW
// both.
type liveWorld struct {
	srv            *veiltest.Server
	clock          *testClock
	groupID        string
	userID         string
	colA, colB     string
	imgA, imgB     string
	token, tokenID string
}

func newLiveWorld(t *testing.T, ttl *int) *liveWorld {
	t.Helper()
	w := &liveWorld{clock: &testClock{}}
	w.srv = veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: w.clock.authConfig()})
	var cols struct{ A, B struct{ ID string } }
	w.srv.GraphQL(`mutation { A: createCollection(input: {name: "live A"}) { id } B: createCollection(input: {name: "live B"}) { id } }`, nil).Decode(t, &cols)
	w.colA, w.colB = cols.A.ID, cols.B.ID
	w.imgA = w.srv.UploadImage(t, azPart("image", "live-a", 1), map[string]any{"collectionId": w.colA}).ID
	w.imgB = w.srv.UploadImage(t, azPart("image", "live-b", 2), map[string]any{"collectionId": w.colB}).ID
	w.userID, w.groupID = azUserInGroup(t, w.srv, "live")
	azGrant(t, w.srv, w.groupID, "VIEW", w.colA)
	azGrant(t, w.srv, w.groupID, "VIEW", w.colB)
	w.token, w.tokenID = azTokenWithID(t, w.srv, w.userID, ttl)
	return w
}

// publish makes img public through content key and returns the content id.
func (w *liveWorld) publish(t *testing.T, key, img string) string {
	return ssePublish(t, w.srv, key, img)
}

// liveSub is one privacyChanged subscription over one transport.
type liveSub interface {
	// next returns the next event's media id and privacy; it fails the test if the
	// connection ends first.
	next(t *testing.T) (mediaID, privacy string)
	// ends fails the test unless the connection ends without delivering another event; want is
	// a word the reason must contain (websockets on the legacy protocol say why).
	ends(t *testing.T, want string)
}

var liveTransports = []string{"graphql-transport-ws", "graphql-ws", "sse"}

func (w *liveWorld) subscribe(t *testing.T, transport string) liveSub {
	t.Helper()
	if transport == "sse" {
		s := subscribeSSE(t, w.srv, w.token, ssePrivacyQuery, nil)
		waitSubscribers(t, w.srv, 1)
		return sseLive{s}
	}
	c := dialWSProto(t, w.srv, transport)
	initWSProto(t, c, w.token)
	c.subscribe("1", ssePrivacyQuery)
	waitSubscribers(t, w.srv, 1)
	return wsLive{c}
}

type wsLive struct{ c *wsClient }

func (l wsLive) next(t *testing.T) (string, string) {
	t.Helper()
	m, err := l.c.next(wsWait)
	if err != nil {
		t.Fatalf("waiting for an event: %v", err)
	}
	if m["type"] != "next" && m["type"] != "data" {
		t.Fatalf("message %v, want an event", m)
	}
	var out struct {
		Payload struct {
			Data struct{ PrivacyChanged ssePrivacy }
		}
	}
	_ = json.Unmarshal([]byte(mustJSON(m)), &out)
	return out.Payload.Data.PrivacyChanged.MediaID, out.Payload.Data.PrivacyChanged.Privacy
}

func (l wsLive) ends(t *testing.T, want string) {
	t.Helper()
	msgs, ce := readUntilClose(t, l.c)
	if ce.Code != 4403 || ce.Text != "Forbidden" {
		t.Errorf("closed with %d %q, want 4403 Forbidden", ce.Code, ce.Text)
	}
	for _, m := range msgs {
		switch {
		case m["type"] == "connection_error" && l.c.proto == "graphql-ws":
			if !strings.Contains(mustJSON(m), want) {
				t.Errorf("connection_error %v, want the reason (%q)", m, want)
			}
		default:
			t.Errorf("message before the close: %v, want none", m)
		}
	}
	if l.c.proto == "graphql-ws" && len(msgs) == 0 {
		t.Error("the legacy protocol got no connection_error before the close")
	}
}

type sseLive struct{ s *sseStream }

func (l sseLive) next(t *testing.T) (string, string) {
	t.Helper()
	ev := l.s.nextPrivacy(t)
	return ev.MediaID, ev.Privacy
}

func (l sseLive) ends(t *testing.T, _ string) {
	t.Helper()
	timeout := time.After(sseWait)
	for {
		select {
		case f, ok := <-l.s.frames:
			if !ok {
				return
			}
			if f.Event != "complete" {
				t.Fatalf("SSE frame %+v after the credentials ended, want the stream to end", f)
			}
		case <-timeout:
			t.Fatalf("SSE stream still open %v after the credentials ended", sseWait)
		}
	}
}

func wantEvent(t *testing.T, sub liveSub, mediaID, privacy string) {
	t.Helper()
	if id, p := sub.next(t); id != mediaID || p != privacy {
		t.Fatalf("event %s %s, want %s %s", id, p, mediaID, privacy)
	}
}

// TestLiveAuthRevokedToken: a token revoked while its connection is open closes the connection
// (4403 on both websocket protocols; the SSE stream ends) before the next event is delivered.
// Deactivating the user does the same.
func TestLiveAuthRevokedToken(t *testing.T) {
	for _, how := range []string{"revokeToken", "deactivate"} {
		for _, tr := range liveTransports {
			t.Run(how+"/"+tr, func(t *testing.T) {
				t.Parallel()
				w := newLiveWorld(t, nil)
				sub := w.subscribe(t, tr)
				w.publish(t, "b", w.imgB)
				wantEvent(t, sub, w.imgB, "PUBLIC")
				if how == "revokeToken" {
					w.srv.GraphQL(`mutation($id: ID!) { revokeToken(id: $id) { id } }`, liveVars("id", w.tokenID)).Decode(t, &struct{}{})
				} else {
					w.srv.GraphQL(`mutation($id: ID!) { updateUser(input: {id: $id, active: false}) { id } }`, liveVars("id", w.userID)).Decode(t, &struct{}{})
				}
				w.publish(t, "a", w.imgA)
				want := map[string]string{"revokeToken": "revoked", "deactivate": "deactivated"}[how]
				sub.ends(t, want)
			})
		}
	}
}

// TestLiveAuthTokenExpires: a token that expires while its connection is open closes it before
// the next event (the auth clock is moved past the expiry; nothing sleeps).
func TestLiveAuthTokenExpires(t *testing.T) {
	for _, tr := range liveTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			hour := 3600
			w := newLiveWorld(t, &hour)
			sub := w.subscribe(t, tr)
			w.publish(t, "b", w.imgB)
			wantEvent(t, sub, w.imgB, "PUBLIC")
			w.clock.advance(2 * time.Hour)
			w.publish(t, "a", w.imgA)
			sub.ends(t, "expired")
		})
	}
}

// TestLiveAuthGrantRemoved: after VIEW on collection A is revoked, the next event about A's
// private image is not delivered, while events about B (still granted) are, on the same
// connection. The A event comes first, so receiving B's proves A's was dropped, not delayed.
func TestLiveAuthGrantRemoved(t *testing.T) {
	for _, tr := range liveTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			w := newLiveWorld(t, nil)
			ca := w.publish(t, "a", w.imgA)
			cb := w.publish(t, "b", w.imgB)
			sub := w.subscribe(t, tr)
			// Both grants held: a private event of A is seen.
			sseUnpublish(t, w.srv, ca)
			wantEvent(t, sub, w.imgA, "PRIVATE")
			w.publish(t, "a", w.imgA)
			wantEvent(t, sub, w.imgA, "PUBLIC")

			w.srv.GraphQL(`mutation($g: ID!, $c: ID!) { revoke(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`,
				liveVars("g", w.groupID, "c", w.colA)).Decode(t, &struct{}{})
			sseUnpublish(t, w.srv, ca) // A turns private: no longer visible to this viewer
			sseUnpublish(t, w.srv, cb) // B turns private: still visible
			wantEvent(t, sub, w.imgB, "PRIVATE")
			w.publish(t, "a", w.imgA) // public events stay visible to everyone
			wantEvent(t, sub, w.imgA, "PUBLIC")
		})
	}
}
