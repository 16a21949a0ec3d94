package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/veiltest"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	Event string
	Data  string
}

// sseSubscribe POSTs a subscription with Accept: text/event-stream and streams the events it
// receives; the stream closes with the response.
func sseSubscribe(t *testing.T, srv *veiltest.Server, token, query string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				ev.Event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.Data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			case line == "" && ev.Event != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return resp, out
}

func nextSSE(t *testing.T, events <-chan sseEvent, wait time.Duration) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-events:
		return ev, ok
	case <-time.After(wait):
		return sseEvent{}, false
	}
}

// TestSSESubscriptions: gqlgen's SSE transport delivers privacy changes to an editor, applies the
// read policy to anonymous subscribers, refuses a bad token, and answers a malformed document with
// a GraphQL error.
func TestSSESubscriptions(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)

	resp, editor := sseSubscribe(t, srv, srv.AdminToken, `subscription { privacyChanged { mediaId privacy cause } }`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE answer: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, anon := sseSubscribe(t, srv, "", `subscription { privacyChanged { mediaId privacy } }`)
	waitSubscribers(t, srv, 2)

	contentID := publishOne(t, srv, img.ID)
	for name, ch := range map[string]<-chan sseEvent{"editor": editor, "anonymous": anon} {
		ev, ok := nextSSE(t, ch, 10*time.Second)
		if !ok || ev.Event != "next" || !strings.Contains(ev.Data, `"mediaId":"`+img.ID+`"`) || !strings.Contains(ev.Data, `"privacy":"PUBLIC"`) {
			t.Fatalf("%s: %+v %v", name, ev, ok)
		}
	}
	srv.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": contentID}).Decode(t, &struct{}{})
	if ev, ok := nextSSE(t, editor, 10*time.Second); !ok || !strings.Contains(ev.Data, `"privacy":"PRIVATE"`) || !strings.Contains(ev.Data, `"cause":"unpublish"`) {
		t.Fatalf("editor after unpublish: %+v %v", ev, ok)
	}
	// The editor saw the private event, so it was published; the anonymous stream must not carry it.
	if ev, ok := nextSSE(t, anon, 500*time.Millisecond); ok {
		t.Errorf("anonymous received an event of a private item: %+v", ev)
	}

	bad, _ := sseSubscribe(t, srv, "veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense", `subscription { privacyChanged { mediaId } }`)
	if bad.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token: %d, want 401", bad.StatusCode)
	}

	for _, doc := range []string{`subscription { privacyChanged { mediaId `, `subscription { noSuchField }`, `subscription { privacyChanged(collectionId: "col_nonsense") { mediaId } }`} {
		_, ch := sseSubscribe(t, srv, srv.AdminToken, doc)
		var all []sseEvent
		for {
			ev, ok := nextSSE(t, ch, 5*time.Second)
			if !ok {
				break
			}
			all = append(all, ev)
			if ev.Event == "complete" {
				break
			}
		}
		if len(all) == 0 || !strings.Contains(all[0].Data, `"errors"`) {
			t.Errorf("%q: want a GraphQL error, got %+v", doc, all)
		}
	}
}
