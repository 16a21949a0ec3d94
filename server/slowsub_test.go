package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// slowBuffer is the subscription buffer of TestSubSlowSubscriberDropped's server.
const slowBuffer = 4

// fillUntilDropped publishes privacy events until the bus drops a subscriber (its client reads
// nothing, so the transport, then the relay, then the bus buffer fill up) and returns how many it
// published. Events are large so that the socket buffers fill after few of them.
func fillUntilDropped(t *testing.T, srv *veiltest.Server) int {
	t.Helper()
	bus := srv.Media.Bus()
	before := bus.Dropped()
	pad := strings.Repeat("x", 16<<10)
	for n := 1; n <= 100000; n++ {
		bus.Publish(t.Context(), events.Event{Kind: events.PrivacyChanged, MediaID: pad, CollectionID: "c1",
			CollectionPath: "/c1/", Privacy: models.Public, Time: time.Now()})
		if bus.Dropped() > before {
			return n
		}
	}
	t.Fatalf("no subscriber dropped after 100000 events")
	return 0
}

func wantTooSlow(t *testing.T, errs []veiltest.GQLError) {
	t.Helper()
	if len(errs) != 1 || errs[0].Extensions["code"] != server.CodeSubscriberTooSlow {
		t.Fatalf("errors %+v, want one %s", errs, server.CodeSubscriberTooSlow)
	}
	if want := "subscription dropped: the client fell behind by 4 events"; errs[0].Message != want {
		t.Errorf("message %q, want %q", errs[0].Message, want)
	}
}

// TestSubSlowSubscriberDropped (issue 15, item 16): a subscriber the bus drops for falling behind
// gets, after the events already on their way, one last result carrying a SUBSCRIBER_TOO_SLOW
// error that says why, then the stream completes: on graphql-transport-ws, on the legacy
// protocol and over SSE.
func TestSubSlowSubscriberDropped(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.SubscriptionBuffer = slowBuffer
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	const query = `subscription { privacyChanged { mediaId } }`

	for _, p := range wsProtocols {
		t.Run(p.proto, func(t *testing.T) {
			w := dialWSProto(t, srv, p.proto)
			initWSProto(t, w, srv.Token)
			w.send(map[string]any{"type": p.subscribe, "id": "1", "payload": map[string]any{"query": query}})
			waitSubscribers(t, srv, 1)
			published := fillUntilDropped(t, srv)
			// Now read: the events queued before the drop, then the reason, then complete.
			var events int
			for {
				m := nextFor(t, w, "1")
				if m["type"] != p.data {
					t.Fatalf("after %d events: %v, want %s with the SUBSCRIBER_TOO_SLOW error", events, m, p.data)
				}
				var payload struct {
					Data   json.RawMessage
					Errors []veiltest.GQLError
				}
				raw, _ := json.Marshal(m["payload"])
				if err := json.Unmarshal(raw, &payload); err != nil {
					t.Fatal(err)
				}
				if len(payload.Errors) == 0 {
					events++
					continue
				}
				wantTooSlow(t, payload.Errors)
				break
			}
			if m := nextFor(t, w, "1"); m["type"] != "complete" {
				t.Fatalf("after the error: %v, want complete", m)
			}
			if events >= published {
				t.Errorf("%d of %d events delivered, yet the subscriber was dropped", events, published)
			}
			t.Logf("%s: %d events published, %d delivered before the drop", p.proto, published, events)
		})
	}

	t.Run("SSE", func(t *testing.T) {
		s := subscribeSSE(t, srv, srv.Token, query, nil)
		waitSubscribers(t, srv, 1)
		published := fillUntilDropped(t, srv)
		var events int
		for {
			r := s.nextResult(t)
			if len(r.Errors) == 0 {
				events++
				continue
			}
			wantTooSlow(t, r.Errors)
			break
		}
		s.end(t)
		t.Logf("SSE: %d events published, %d delivered before the drop", published, events)
	})
}

// TestSubStalledClientClosedByWriteDeadline: a client that stops reading while the bus still has
// room for its events is let go when a write waits longer than WebsocketWriteTimeout — its
// subscription ends rather than holding a relay and a queue — and the bus has not dropped it for
// falling behind (that is the other way out, TestSubSlowSubscriberDropped): on a websocket and on
// a server-sent-events stream.
func TestSubStalledClientClosedByWriteDeadline(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.SubscriptionBuffer = 1 << 20 // the bus never runs out of room first
	scfg := server.DefaultConfig()
	scfg.WebsocketWriteTimeout = 200 * time.Millisecond
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg, Server: &scfg})
	const query = `subscription { privacyChanged { mediaId } }`

	// stall publishes 80 MB of events, far more than the socket buffers hold and far fewer than
	// the bus's room, then waits for the subscription to end: a write blocks past its deadline and
	// the stream ends.
	stall := func(t *testing.T) {
		t.Helper()
		waitSubscribers(t, srv, 1)
		bus := srv.Media.Bus()
		dropped := bus.Dropped()
		pad := strings.Repeat("x", 16<<10)
		for range 5000 {
			bus.Publish(t.Context(), events.Event{Kind: events.PrivacyChanged, MediaID: pad, CollectionID: "c1",
				CollectionPath: "/c1/", Privacy: models.Public, Time: time.Now()})
		}
		deadline := time.Now().Add(time.Minute)
		for bus.Subscribers() > 0 {
			if time.Now().After(deadline) {
				t.Fatal("a client that reads nothing is still subscribed a minute after its socket filled")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if bus.Dropped() != dropped {
			t.Fatal("the bus dropped the subscriber: the write deadline was not what ended it")
		}
	}

	t.Run("websocket", func(t *testing.T) {
		w := dialWSProto(t, srv, "graphql-transport-ws")
		initWSProto(t, w, srv.Token)
		w.send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": query}})
		stall(t)
		// The client finds its connection closed once it reads what reached it.
		for {
			if _, err := w.next(wsWait); err != nil {
				break
			}
		}
	})
	t.Run("SSE", func(t *testing.T) {
		s := subscribeSSE(t, srv, srv.Token, query, nil) // its frames are not taken: the reader stops
		stall(t)
		for range s.frames { // the stream ends once what reached the client is read
		}
	})
}

// TestSSEDeadlineClearedForTheNextRequest: an event stream's write deadline belongs to that
// stream. Once it has ended, the next request on the same kept-alive connection — sent after
// the deadline would have passed — is answered. It guards behaviour net/http provides (it
// clears a connection's write deadline after every handler, Go ≥ 1.20; the stream's own clearing
// is not what makes it pass) against a change of server or wrapper. (The wait is for a deadline,
// not an ordering: twice WebsocketWriteTimeout past the stream's last write.)
func TestSSEDeadlineClearedForTheNextRequest(t *testing.T) {
	scfg := server.DefaultConfig()
	scfg.WebsocketWriteTimeout = 50 * time.Millisecond
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &scfg})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}}
	post := func(body, accept string) (*http.Response, bool) {
		t.Helper()
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		resp, err := client.Do(req) // a POST is not retried on a fresh connection
		if err != nil {
			t.Fatalf("request on a reused connection (%v) failed: %v", reused, err)
		}
		return resp, reused
	}
	// A stream that ends by itself: the subscription is refused, as an event, then complete.
	resp, _ := post(`{"query":"subscription { noSuchField }"}`, "text/event-stream")
	stream, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") || !strings.Contains(string(stream), "noSuchField") {
		t.Fatalf("not an event stream naming the error: %s %q", ct, stream)
	}
	time.Sleep(2 * scfg.WebsocketWriteTimeout)
	resp, reused := post(`{"query":"{ __typename }"}`, "application/json")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !reused {
		t.Fatal("the second request did not reuse the stream's connection; the test shows nothing")
	}
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Query") {
		t.Fatalf("next request on the connection: %d %q %v", resp.StatusCode, body, err)
	}
}
