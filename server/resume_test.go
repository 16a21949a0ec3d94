package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

const resumeQuery = `subscription($after: String) { privacyChanged(after: $after) { mediaId privacy cursor } }`

type resumed struct {
	MediaID, Privacy, Cursor string
	ID                       string // the SSE id of the frame
}

func nextResumed(t *testing.T, s *sseStream) resumed {
	t.Helper()
	f := s.next(t)
	var r struct {
		Data   struct{ PrivacyChanged resumed }
		Errors []veiltest.GQLError
	}
	if f.Event != "next" || json.Unmarshal([]byte(f.Data), &r) != nil || len(r.Errors) > 0 {
		t.Fatalf("frame %+v", f)
	}
	r.Data.PrivacyChanged.ID = f.ID
	return r.Data.PrivacyChanged
}

// TestResumeAppliesPrivacy: a subscription resumed with after (or, over server-sent events,
// Last-Event-ID) replays exactly the events its viewer may see, each with its cursor as the SSE
// id, then goes live; a malformed cursor is a BAD_USER_INPUT error.
func TestResumeAppliesPrivacy(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		e := newPrivEnv(t, db, privOpts{})
		colA, colB := e.collection(), e.collection()
		a, b := e.image(colA), e.image(colB)
		viewerA := e.user("viewer-a", grantOf{"VIEW", colA})
		ca, cb := e.upsert("a", a.ID), e.upsert("b", b.ID)
		e.publish(ca)
		e.publish(cb)
		e.unpublish(ca)
		e.unpublish(cb)
		type want struct{ id, privacy string }
		all := []want{{a.ID, "PUBLIC"}, {b.ID, "PUBLIC"}, {a.ID, "PRIVATE"}, {b.ID, "PRIVATE"}}
		for _, tc := range []struct {
			name, token string
			sees        []want
		}{
			{"admin", e.srv.AdminToken, all},
			{"viewer of A", viewerA, all[:3]},
			{"anonymous", "", all[:2]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := subscribeSSE(t, e.srv, tc.token, resumeQuery, map[string]any{"after": "0"})
				var got []resumed
				for range tc.sees {
					got = append(got, nextResumed(t, s))
				}
				for i, w := range tc.sees {
					if got[i].MediaID != w.id || got[i].Privacy != w.privacy || got[i].ID == "" || got[i].ID != got[i].Cursor {
						t.Fatalf("replayed event %d: %+v, want %s %s with its cursor as SSE id", i, got[i], w.id, w.privacy)
					}
				}
				// Live after the replay: the next event is the next publish, nothing the viewer
				// may not see in between.
				e.publish(ca)
				if r := nextResumed(t, s); r.MediaID != a.ID || r.Privacy != "PUBLIC" {
					t.Fatalf("live event %+v, want %s PUBLIC", r, a.ID)
				}
				s.Close()
				e.unpublish(ca)

				// Reconnect as an EventSource does: Last-Event-ID is the id of the first event.
				body, _ := json.Marshal(map[string]any{"query": resumeQuery})
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "text/event-stream")
				req.Header.Set("Last-Event-ID", got[0].ID)
				if tc.token != "" {
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				resp, err := e.srv.HTTP.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				s2 := &sseStream{resp: resp, frames: make(chan sseFrame, 64)}
				t.Cleanup(s2.Close)
				go s2.read()
				rest := append(append([]want{}, tc.sees[1:]...), want{a.ID, "PUBLIC"})
				if tc.token != "" {
					rest = append(rest, want{a.ID, "PRIVATE"})
				}
				for i, w := range rest {
					r := nextResumed(t, s2)
					if r.MediaID != w.id || r.Privacy != w.privacy {
						t.Fatalf("after Last-Event-ID, event %d: %+v, want %s %s", i, r, w.id, w.privacy)
					}
				}
			})
		}
		s := subscribeSSE(t, e.srv, "", resumeQuery, map[string]any{"after": "not-a-cursor"})
		if r := s.nextResult(t); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Fatalf("malformed after: %+v", r)
		}
	})
}
