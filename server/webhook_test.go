package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/veiltest"
)

// TestWebhooksThroughGraphQL: an admin creates a webhook for privacy changes; its receiver is
// stuck on the first delivery while a publish answers (deliveries never hold a request), then
// fails once more, then takes everything in cursor order; webhookDeliveries shows each attempt;
// only admins manage webhooks; deleteWebhook stops it.
func TestWebhooksThroughGraphQL(t *testing.T) {
	db := veiltest.SQLite(t)
	srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{
		Webhooks: &events.WebhookConfig{AllowPrivate: true, FirstBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Interval: 5 * time.Millisecond},
	})
	release, entered := make(chan struct{}), make(chan struct{})
	var (
		mu    sync.Mutex
		calls int
		got   []string
	)
	done := make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			close(entered)
			<-release
		}
		if n <= 2 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var ev struct{ Cursor, Kind, MediaID string }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		got = append(got, ev.MediaID)
		if len(got) == 2 {
			close(done)
		}
		mu.Unlock()
	}))
	defer rc.Close()
	defer close(release)

	var created struct{ CreateWebhook struct{ ID string } }
	srv.GraphQL(`mutation($u: String!) { createWebhook(url: $u, events: ["PRIVACY_CHANGED"], secret: "0123456789abcdef") { id } }`,
		map[string]any{"u": rc.URL}).Decode(t, &created)
	img1 := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
	var c struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation($m: ID!) { upsertContent(input: {kind: "page", key: "a", references: [{mediaId: $m}]}) { id } }`, map[string]any{"m": img1.ID}).Decode(t, &c)
	srv.GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": c.UpsertContent.ID}).Decode(t, &struct{}{})
	// The receiver holds the first delivery; the next change still answers.
	<-entered
	srv.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": c.UpsertContent.ID}).Decode(t, &struct{}{})
	release <- struct{}{}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("receiver got %v", got)
	}
	mu.Lock()
	if len(got) != 2 || got[0] != img1.ID || got[1] != img1.ID || calls != 4 {
		t.Fatalf("receiver got %v in %d calls", got, calls)
	}
	mu.Unlock()
	var ds struct {
		WebhookDeliveries []struct {
			Cursor  string
			Attempt int
			Ok      bool
			Status  *int
		}
	}
	// The last attempt is recorded once its answer is read: wait for it.
	for deadline := time.Now().Add(30 * time.Second); len(ds.WebhookDeliveries) < 4 && time.Now().Before(deadline); {
		srv.GraphQL(`query($id: ID!) { webhookDeliveries(webhookId: $id) { cursor attempt ok status } }`, map[string]any{"id": created.CreateWebhook.ID}).Decode(t, &ds)
	}
	d := ds.WebhookDeliveries
	if len(d) != 4 || !d[0].Ok || d[0].Attempt != 1 || !d[1].Ok || d[1].Attempt != 3 || d[2].Ok || d[2].Attempt != 2 || d[3].Ok || d[3].Attempt != 1 ||
		*d[3].Status != 503 || d[1].Cursor != d[3].Cursor || cursorNum(d[0].Cursor) <= cursorNum(d[1].Cursor) {
		t.Fatalf("deliveries %+v", d)
	}

	for _, q := range []string{`{ webhooks { id } }`, `mutation { deleteWebhook(id: "whk_x") }`,
		`mutation { createWebhook(url: "http://example.com", secret: "0123456789abcdef") { id } }`} {
		if code := srv.As("").GraphQL(q, nil).Code(); code != "UNAUTHENTICATED" {
			t.Errorf("%s anonymously: %s", q, code)
		}
	}
	for _, tc := range []struct{ q, code string }{
		{`mutation { createWebhook(url: "http://example.com", events: ["NOPE"], secret: "0123456789abcdef") { id } }`, "BAD_USER_INPUT"},
		{`mutation { createWebhook(url: "javascript:alert(1)", secret: "0123456789abcdef") { id } }`, "BAD_USER_INPUT"},
		{`mutation { createWebhook(url: "http://example.com", secret: "short") { id } }`, "BAD_USER_INPUT"},
	} {
		if code := srv.GraphQL(tc.q, nil).Code(); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.q, code, tc.code)
		}
	}
	var del struct{ DeleteWebhook bool }
	srv.GraphQL(`mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": created.CreateWebhook.ID}).Decode(t, &del)
	var list struct{ Webhooks []struct{ ID string } }
	srv.GraphQL(`{ webhooks { id } }`, nil).Decode(t, &list)
	if !del.DeleteWebhook || len(list.Webhooks) != 0 {
		t.Fatalf("after delete: %v %+v", del, list)
	}
}

func cursorNum(c string) int64 { n, _ := strconv.ParseInt(c, 10, 64); return n }
