package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// These tests drive gqlgen's SSE transport (POST /graphql with Accept: text/event-stream) through
// Veil's whole middleware stack with a real HTTP client, and read the stream the way an SSE client
// does: frames separated by blank lines, "event:" and "data:" fields, ":" comments ignored.

// sseWait bounds every wait for a frame; it only decides how long a failing test takes.
const sseWait = 10 * time.Second

// sseFrame is one server-sent event.
type sseFrame struct {
	Event string
	Data  string
	ID    string
}

// sseResult is the data of an "event: next" frame: one GraphQL response.
type sseResult struct {
	Data   json.RawMessage     `json:"data"`
	Errors []veiltest.GQLError `json:"errors"`
}

// sseStream is an open server-sent-events response. Its reader goroutine ends when the server
// ends the response or the test closes the body (Close, or the test's cleanup).
type sseStream struct {
	resp   *http.Response
	frames chan sseFrame
}

// postSSE POSTs a GraphQL request with Accept: text/event-stream, authenticated with token ("" =
// anonymous). A text/event-stream answer is returned as a stream; any other answer is returned
// with its body read and a nil stream.
func postSSE(t *testing.T, srv *veiltest.Server, token string, body []byte) (*http.Response, *sseStream, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// An event stream starts with a flushed comment, so its headers come at once; a server that
	// does not stream (no SSE transport) would otherwise hold the request until an event.
	tr := srv.HTTP.Client().Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = sseWait
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("POST /graphql (SSE): %v", err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, nil, raw
	}
	s := &sseStream{resp: resp, frames: make(chan sseFrame, 64)}
	t.Cleanup(s.Close)
	go s.read()
	return resp, s, nil
}

// subscribeSSE opens a subscription over SSE and fails the test unless the server answers with a
// 200 event stream.
func subscribeSSE(t *testing.T, srv *veiltest.Server, token, query string, vars map[string]any) *sseStream {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, s, raw := postSSE(t, srv, token, body)
	if resp.StatusCode != http.StatusOK || s == nil {
		t.Fatalf("SSE subscribe: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("SSE Cache-Control = %q, want no-cache", cc)
	}
	return s
}

func (s *sseStream) read() {
	defer close(s.frames)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var f sseFrame
	var data []string
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if f.Event != "" || len(data) > 0 {
				f.Data = strings.Join(data, "\n")
				s.frames <- f
			}
			f, data = sseFrame{}, nil
		case field == "": // a comment (":" keeps the stream open, ": ping" is a keep-alive)
		case field == "event":
			f.Event = value
		case field == "data":
			data = append(data, value)
		case field == "id":
			f.ID = value
		}
	}
}

// Close ends the response, as a client that goes away does.
func (s *sseStream) Close() { s.resp.Body.Close() }

// next returns the next frame, failing the test if the stream ends or stays silent.
func (s *sseStream) next(t *testing.T) sseFrame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatal("SSE stream ended; want another frame")
		}
		return f
	case <-time.After(sseWait):
		t.Fatalf("no SSE frame within %v", sseWait)
	}
	return sseFrame{}
}

// nextResult returns the next frame, which must be "event: next", decoded.
func (s *sseStream) nextResult(t *testing.T) sseResult {
	t.Helper()
	f := s.next(t)
	if f.Event != "next" {
		t.Fatalf("SSE frame %+v, want event: next", f)
	}
	var r sseResult
	if err := json.Unmarshal([]byte(f.Data), &r); err != nil {
		t.Fatalf("SSE data %q: %v", f.Data, err)
	}
	return r
}

// end fails the test unless the next frame is "event: complete" and the response ends after it.
func (s *sseStream) end(t *testing.T) {
	t.Helper()
	if f := s.next(t); f.Event != "complete" || f.Data != "" {
		t.Fatalf("SSE frame %+v, want event: complete", f)
	}
	select {
	case f, ok := <-s.frames:
		if ok {
			t.Fatalf("SSE frame %+v after complete", f)
		}
	case <-time.After(sseWait):
		t.Fatalf("SSE response still open %v after complete", sseWait)
	}
}

// ssePrivacy is a privacyChanged event.
type ssePrivacy struct {
	MediaID, CollectionID, Privacy, Cause string
	ContentID                             *string
}

const ssePrivacyQuery = `subscription { privacyChanged { mediaId collectionId privacy cause contentId } }`

func (s *sseStream) nextPrivacy(t *testing.T) ssePrivacy {
	t.Helper()
	r := s.nextResult(t)
	var out struct{ PrivacyChanged ssePrivacy }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
		t.Fatalf("privacyChanged: %s %+v", r.Data, r.Errors)
	}
	return out.PrivacyChanged
}

// ssePermission is a filePermissionResults event.
type ssePermission struct {
	MediaID       string
	Key           *string
	Public, OK    bool
	Complete      bool
	Files, Failed *int
	ContentID     *string
}

const ssePermissionQuery = `subscription($ids: [ID!]) { filePermissionResults(mediaIds: $ids) { mediaId key public ok complete files failed contentId } }`

func (s *sseStream) nextPermission(t *testing.T) ssePermission {
	t.Helper()
	r := s.nextResult(t)
	var out struct{ FilePermissionResults ssePermission }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
		t.Fatalf("filePermissionResults: %s %+v", r.Data, r.Errors)
	}
	return out.FilePermissionResults
}

// permissionRound reads one item's file events up to its completion message, checks that every
// message is about mediaID with the given publicity and content and that the completion counts
// the file events before it, and returns that count.
func (s *sseStream) permissionRound(t *testing.T, mediaID string, public bool, contentID string) int {
	t.Helper()
	files := 0
	for {
		ev := s.nextPermission(t)
		if ev.MediaID != mediaID || ev.Public != public || !ev.OK || ev.ContentID == nil || *ev.ContentID != contentID {
			t.Fatalf("file permission event %+v, want media %s public=%v ok content %s", ev, mediaID, public, contentID)
		}
		if !ev.Complete {
			if ev.Key == nil || *ev.Key == "" {
				t.Fatalf("file event without a key: %+v", ev)
			}
			files++
			continue
		}
		if ev.Key != nil || ev.Files == nil || *ev.Files != files || ev.Failed == nil || *ev.Failed != 0 {
			t.Fatalf("completion %+v after %d file events, want files=%d failed=0", ev, files, files)
		}
		return files
	}
}

// ssePublish creates (or updates) the page content key referencing mediaID, publishes it and
// returns its id.
func ssePublish(t *testing.T, srv *veiltest.Server, key, mediaID string) string {
	t.Helper()
	var up struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation($k: String!, $m: ID!) { upsertContent(input: {kind: "page", key: $k, references: [{mediaId: $m}]}) { id } }`,
		map[string]any{"k": key, "m": mediaID}).Decode(t, &up)
	srv.GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": up.UpsertContent.ID}).Decode(t, &struct{}{})
	return up.UpsertContent.ID
}

func sseUnpublish(t *testing.T, srv *veiltest.Server, contentID string) {
	t.Helper()
	srv.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": contentID}).Decode(t, &struct{}{})
}

// waitBusSubscribers polls until the event bus holds exactly n subscribers: subscriptions are
// registered and released by goroutines the test cannot wait on directly.
func waitBusSubscribers(t *testing.T, srv *veiltest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(sseWait)
	for srv.Media.Bus().Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("event bus holds %d subscribers after %v, want %d", srv.Media.Bus().Subscribers(), sseWait, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSSEDelivery: an editor's SSE subscriptions receive a publish and an unpublish made over
// HTTP as "event: next" frames with the exact events (one per file the ACL driver set, then the
// item's completion), and the server lets go of both subscriptions once the client goes away.
func TestSSEDelivery(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ACL: storage.NewMemACL(storage.MemACLOptions{})})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)

	privacy := subscribeSSE(t, srv, srv.AdminToken, ssePrivacyQuery, nil)
	perms := subscribeSSE(t, srv, srv.AdminToken, ssePermissionQuery, map[string]any{"ids": []string{img.ID}})
	waitBusSubscribers(t, srv, 2)

	contentID := ssePublish(t, srv, "sse-delivery", img.ID)
	ev := privacy.nextPrivacy(t)
	if ev.MediaID != img.ID || ev.CollectionID == "" || ev.Privacy != "PUBLIC" || ev.Cause != "publish" || ev.ContentID == nil || *ev.ContentID != contentID {
		t.Fatalf("after publish: %+v", ev)
	}
	if files := perms.permissionRound(t, img.ID, true, contentID); files < 1 {
		t.Fatalf("publish set the permission of %d files, want at least the original", files)
	}

	sseUnpublish(t, srv, contentID)
	if ev := privacy.nextPrivacy(t); ev.MediaID != img.ID || ev.Privacy != "PRIVATE" || ev.Cause != "unpublish" || ev.ContentID == nil || *ev.ContentID != contentID {
		t.Fatalf("after unpublish: %+v", ev)
	}
	perms.permissionRound(t, img.ID, false, contentID)

	privacy.Close()
	perms.Close()
	waitBusSubscribers(t, srv, 0)
}

// TestSSEAnonymousSeesOnlyPublicEvents: SSE applies the read policy of queries. An anonymous
// subscriber receives an item's events while the item is public, never the events of its turning
// private. The bus keeps each subscriber's order, so the anonymous stream going straight from
// the first item's publish to the second item's publish proves the unpublish in between, which
// the editor's stream shows, was withheld.
func TestSSEAnonymousSeesOnlyPublicEvents(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ACL: storage.NewMemACL(storage.MemACLOptions{})})
	a := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
	b := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/LadyBird.jpg")), nil)

	editor := subscribeSSE(t, srv, srv.AdminToken, ssePrivacyQuery, nil)
	anonPrivacy := subscribeSSE(t, srv, "", ssePrivacyQuery, nil)
	anonPerms := subscribeSSE(t, srv, "", ssePermissionQuery, nil)
	waitBusSubscribers(t, srv, 3)

	contentA := ssePublish(t, srv, "sse-anon-a", a.ID)
	sseUnpublish(t, srv, contentA)
	contentB := ssePublish(t, srv, "sse-anon-b", b.ID)

	want := []struct{ media, privacy, cause string }{{a.ID, "PUBLIC", "publish"}, {a.ID, "PRIVATE", "unpublish"}, {b.ID, "PUBLIC", "publish"}}
	for i, w := range want {
		if ev := editor.nextPrivacy(t); ev.MediaID != w.media || ev.Privacy != w.privacy || ev.Cause != w.cause {
			t.Fatalf("editor event %d: %+v, want %+v", i, ev, w)
		}
	}
	for i, w := range []struct{ media, content string }{{a.ID, contentA}, {b.ID, contentB}} {
		if ev := anonPrivacy.nextPrivacy(t); ev.MediaID != w.media || ev.Privacy != "PUBLIC" || ev.ContentID == nil || *ev.ContentID != w.content {
			t.Fatalf("anonymous privacy event %d: %+v, want %s PUBLIC", i, ev, w.media)
		}
	}
	// permissionRound fails on any event with public=false: the private round of a is skipped.
	anonPerms.permissionRound(t, a.ID, true, contentA)
	anonPerms.permissionRound(t, b.ID, true, contentB)
}

// TestSSEBadToken: a subscription with a bad token is refused before any stream starts, exactly
// as a query is: 401 with WWW-Authenticate and an UNAUTHENTICATED GraphQL error in JSON, never
// treated as anonymous, and no subscription is left on the server.
func TestSSEBadToken(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, tc := range []struct{ name, token, message string }{
		{"malformed", "nonsense", "malformed token"},
		{"unknown", "veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense", "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": ssePrivacyQuery})
			resp, stream, raw := postSSE(t, srv, tc.token, body)
			if stream != nil {
				t.Fatalf("bad token opened an event stream (%d)", resp.StatusCode)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			for h, want := range map[string]string{"Content-Type": "application/json", "WWW-Authenticate": `Bearer realm="veil"`, "Cache-Control": "no-store"} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			var r veiltest.Response
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			if len(r.Errors) != 1 || r.Code() != "UNAUTHENTICATED" || r.Errors[0].Message != tc.message || r.Data != nil {
				t.Errorf("body %s, want one UNAUTHENTICATED error %q and no data", raw, tc.message)
			}
			if n := srv.Media.Bus().Subscribers(); n != 0 {
				t.Errorf("event bus holds %d subscribers after a refused subscription", n)
			}
		})
	}
}

// TestSSEMalformedDocuments: a subscription the server cannot run is answered on the event stream
// with one "event: next" frame carrying a coded GraphQL error and no data, then "event: complete",
// and the response ends; nothing stays subscribed. A body that is not JSON is refused with 400.
func TestSSEMalformedDocuments(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		code, msg   string
	}{
		{"syntax error", `subscription { privacyChanged { mediaId `, nil,
			"GRAPHQL_PARSE_FAILED", "Expected Name, found <EOF>"},
		{"unknown field", `subscription { noSuchField }`, nil,
			"GRAPHQL_VALIDATION_FAILED", `Cannot query field "noSuchField" on type "Subscription".`},
		{"two root fields", `subscription { privacyChanged { mediaId } filePermissionResults { mediaId } }`, nil,
			"GRAPHQL_VALIDATION_FAILED", "Anonymous Subscription must select only one top level field."},
		{"missing variable", `subscription($c: ID!) { privacyChanged(collectionId: $c) { mediaId } }`, nil,
			"GRAPHQL_VALIDATION_FAILED", "must be defined"},
		{"malformed id", `subscription { privacyChanged(collectionId: "col_nonsense") { mediaId } }`, nil,
			"BAD_USER_INPUT", `collectionId: "col_nonsense" is not a Veil id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := subscribeSSE(t, srv, srv.AdminToken, tc.query, tc.vars)
			r := s.nextResult(t)
			if string(r.Data) != "null" || len(r.Errors) != 1 {
				t.Fatalf("want one error and data null, got data %s errors %+v", r.Data, r.Errors)
			}
			e := r.Errors[0]
			if e.Extensions["code"] != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("error %+v, want code %s and message containing %q", e, tc.code, tc.msg)
			}
			s.end(t)
			if n := srv.Media.Bus().Subscribers(); n != 0 {
				t.Errorf("event bus holds %d subscribers after a refused subscription", n)
			}
		})
	}

	t.Run("body not JSON", func(t *testing.T) {
		resp, stream, raw := postSSE(t, srv, srv.AdminToken, []byte(`{"query": "subscription {`))
		var r veiltest.Response
		if stream != nil || resp.StatusCode != http.StatusBadRequest || json.Unmarshal(raw, &r) != nil ||
			len(r.Errors) != 1 || r.Code() != "BAD_REQUEST" || strings.Contains(string(raw), "subscription {") {
			t.Errorf("want 400 BAD_REQUEST that does not quote the body, got %d %s", resp.StatusCode, raw)
		}
	})
}

// TestSSEServerEndsStream: when the server ends a subscription (its event bus closes the
// subscriber, as at shutdown or when a subscriber falls too far behind) the client is told with
// "event: complete" and the response ends, rather than left hanging on an open connection.
func TestSSEServerEndsStream(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	s := subscribeSSE(t, srv, srv.AdminToken, ssePrivacyQuery, nil)
	waitBusSubscribers(t, srv, 1)
	srv.Media.Bus().Close(t.Context())
	s.end(t)
}

// TestSSEShutdown: with CloseStreams registered, http.Server.Shutdown ends open subscription
// streams instead of waiting for their clients: the SSE response finishes with "event: complete",
// a websocket subscriber is closed with 1000, and Shutdown returns without hitting its deadline.
func TestSSEShutdown(t *testing.T) {
	t.Parallel()
	var h *server.Server
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Wrap: func(next http.Handler) http.Handler {
		h = next.(*server.Server)
		return next
	}})
	srv.HTTP.Config.RegisterOnShutdown(h.CloseStreams)

	s := subscribeSSE(t, srv, srv.AdminToken, ssePrivacyQuery, nil)
	ws := dialWSProto(t, srv, "graphql-transport-ws")
	initWSProto(t, ws, srv.AdminToken)
	ws.subscribe("1", ssePrivacyQuery)
	waitBusSubscribers(t, srv, 2)

	ctx, cancel := context.WithTimeout(t.Context(), sseWait)
	defer cancel()
	if err := srv.HTTP.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with open subscriptions: %v", err)
	}
	s.end(t)
	if _, ce := readUntilClose(t, ws); ce.Code != websocket.CloseNormalClosure {
		t.Errorf("websocket closed with %d %q, want 1000", ce.Code, ce.Text)
	}
	waitBusSubscribers(t, srv, 0)
}
