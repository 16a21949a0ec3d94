package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// privacyStream is a privacyChanged subscription over server-sent events.
type privacyStream struct {
	body io.Closer
	evs  chan map[string]string
}

func subscribePrivacy(t *testing.T, base, token, after string) *privacyStream {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `subscription($a: String) { privacyChanged(after: $a) { mediaId privacy cursor } }`, "variables": map[string]any{"a": after}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &privacyStream{body: resp.Body, evs: make(chan map[string]string, 1000)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.evs)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var r struct {
				Data struct {
					PrivacyChanged map[string]string
				}
				Errors []any
			}
			if json.Unmarshal([]byte(data), &r) != nil || len(r.Errors) > 0 {
				s.evs <- map[string]string{"error": data}
				return
			}
			s.evs <- r.Data.PrivacyChanged
		}
	}()
	return s
}

// take reads n events, failing on an error or a silence of 30s.
func (s *privacyStream) take(t *testing.T, n int) []map[string]string {
	t.Helper()
	var out []map[string]string
	for len(out) < n {
		select {
		case ev, ok := <-s.evs:
			if !ok || ev["error"] != "" {
				t.Fatalf("stream ended after %d of %d events: %v", len(out), n, ev)
			}
			out = append(out, ev)
		case <-time.After(30 * time.Second):
			t.Fatalf("received %d of %d events", len(out), n)
		}
	}
	return out
}

// TestKilledAfterCommitLosesNoEvent: instance B holds the event relay's lease and is killed
// (SIGKILL, VEIL_TEST_CRASH_AT) right after committing a publish of 200 items, before delivering
// any of its events. A takes the lease over within one lease and delivers them: A's subscriber
// gets each of the 200 privacy changes exactly once, and a subscriber resuming on A from the
// cursor of the 100th gets the other 100 exactly once.
func TestKilledAfterCommitLosesNoEvent(t *testing.T) {
	natsURL := os.Getenv("NATS_SERVER_URL")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(natsURL, "nats://"), time.Second); err != nil {
		t.Skipf("NATS is not reachable at %s: %v", natsURL, err)
	} else {
		c.Close()
	}
	dbURL := veiltest.PostgresURL(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	env := []string{
		"VEIL_DATABASE_URL=" + dbURL,
		"VEIL_STORAGE_URL=file://" + filepath.Join(t.TempDir(), "media"),
		"VEIL_DATA_DIR=" + t.TempDir(),
		"VEIL_SECRET=" + strings.Repeat("s", 40),
		"VEIL_EVENTS_URL=nats://veil-test-" + hex.EncodeToString(rnd[:]),
		"NATS_SERVER_URL=" + natsURL,
		"VEIL_STORAGE_ACL=none",
		"VEIL_LOG_FORMAT=json",
		"VEIL_EVENT_RELAY_LEASE=2s",
		"VEIL_EVENT_RELAY_INTERVAL=50ms",
	}
	b := startVeil(t, append(env, "VEIL_TEST_CRASH_AT=publish.committed")) // first: it takes the relay lease
	a := startVeil(t, env)
	token := b.token
	if token == "" {
		t.Fatalf("B did not bootstrap the admin")
	}
	if !strings.Contains(b.logs.String(), "event relay lease taken") {
		t.Fatalf("B does not hold the relay lease:\n%s", b.logs.String())
	}

	// 200 private items: one upload through A, then copies of its row.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadImage(input: {file: $f}) { id } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "upright.jpg")
	src, err := os.ReadFile(veiltest.Corpus(t, "orientation/upright.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(src)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, a.url+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var up struct {
		Data struct{ UploadImage struct{ ID string } }
	}
	if json.Unmarshal(raw, &up) != nil || up.Data.UploadImage.ID == "" {
		t.Fatalf("upload: %s", raw)
	}
	ctx := context.Background()
	db, err := models.Open(ctx, models.DBConfig{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tmpl models.Image
	if err := db.NewSelect().Model(&tmpl).Where("id = ?", up.Data.UploadImage.ID).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	rows := make([]models.Image, 200)
	refs := make([]map[string]any, 200)
	want := map[string]bool{}
	for i := range rows {
		cp := tmpl
		cp.ID = media.NewID(media.KindImage)
		cp.SHA256 = fmt.Sprintf("%064x", i+1)
		cp.StorageKey = "originals/" + cp.ID + "/copy.jpg"
		rows[i] = cp
		refs[i] = map[string]any{"mediaId": cp.ID}
		want[cp.ID] = true
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	c := gql(t, a.url, token, `mutation($r: [ReferenceInput!]) { upsertContent(input: {kind: "page", key: "all", references: $r}) { id } }`, map[string]any{"r": refs})
	cid := c["upsertContent"].(map[string]any)["id"]

	live := subscribePrivacy(t, a.url, token, "0") // resuming from the start: no wait for the subscription to be in place

	// Publish through B, which dies after its commit.
	pub, _ := json.Marshal(map[string]any{"query": `mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, "variables": map[string]any{"id": cid}})
	req, _ = http.NewRequest(http.MethodPost, b.url+"/graphql", bytes.NewReader(pub))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("B answered the publish instead of dying after its commit: %d %s", resp.StatusCode, raw)
	}
	var n int
	if err := db.NewSelect().Model((*models.Image)(nil)).Where("privacy = ?", models.Public).ColumnExpr("count(*)").Scan(ctx, &n); err != nil || n != 200 {
		t.Fatalf("%d items public after B's commit (%v), want 200", n, err)
	}

	got := live.take(t, 200)
	seen := map[string]bool{}
	var prev int64
	for _, ev := range got {
		if !want[ev["mediaId"]] || seen[ev["mediaId"]] || ev["privacy"] != "PUBLIC" {
			t.Fatalf("unexpected or repeated event %v", ev)
		}
		seen[ev["mediaId"]] = true
		cur, _ := strconv.ParseInt(ev["cursor"], 10, 64)
		if cur <= prev {
			t.Fatalf("cursor %d after %d", cur, prev)
		}
		prev = cur
	}
	select {
	case ev := <-live.evs:
		t.Fatalf("an event after the 200: %v", ev)
	case <-time.After(500 * time.Millisecond): // a duplicate would follow the batch at once
	}
	if !strings.Contains(a.logs.String(), "event relay lease taken") {
		t.Error("A never took the relay lease over")
	}

	resumed := subscribePrivacy(t, a.url, token, got[99]["cursor"])
	rest := resumed.take(t, 100)
	for i, ev := range rest {
		if ev["mediaId"] != got[100+i]["mediaId"] || ev["cursor"] != got[100+i]["cursor"] {
			t.Fatalf("resumed event %d: %v, want %v", i, ev, got[100+i])
		}
	}
}
