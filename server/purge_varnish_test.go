package server_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// TestVarnishPurgeOnPrivacyChange: Veil behind a real Varnish. A public image's original and
// rendition are cached by Varnish (second GET is a HIT, Veil not asked); when the image turns
// private, Veil purges every URL of it, so the next anonymous GET reaches Veil and is refused; the
// purge results arrive as events.
func TestVarnishPurgeOnPrivacyChange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cache := veiltest.StartVarnish(t, "http://"+ln.Addr().String())
	p, err := purge.Open("purge:"+cache, "", purge.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ACL: storage.NewMemACL(storage.MemACLOptions{}),
		Listener: ln, Purger: p, PurgeBaseURL: cache}) // Veil's public address is the cache's

	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)
	var c struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation($id: ID!) { upsertContent(input: {kind: "page", key: "cdn", references: [{mediaId: $id}]}) { id } }`,
		map[string]any{"id": img.ID}).Decode(t, &c)
	srv.GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": c.UpsertContent.ID})
	var q struct {
		Image struct {
			URL       string
			Rendition struct{ URL string }
		}
	}
	srv.As("").GraphQL(`query($id: ID!) { image(id: $id) { url rendition(spec: "width-40|format-png") { url } } }`,
		map[string]any{"id": img.ID}).Decode(t, &q)
	paths := []string{q.Image.URL, q.Image.Rendition.URL}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/media/") {
			t.Fatalf("expected serve-view paths (proxy-only), got %q", p)
		}
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(cache + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Cache")
	}
	for _, path := range paths {
		if code, x := get(path); code != 200 || x != "MISS" {
			t.Fatalf("%s first GET: %d %s", path, code, x)
		}
		if code, x := get(path); code != 200 || x != "HIT" {
			t.Fatalf("%s second GET: %d %s (public files must be cacheable by the CDN)", path, code, x)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs := srv.Media.Bus().Subscribe(ctx, func(ev events.Event) bool { return ev.Kind == events.Purge }, 100)
	var un struct {
		UnpublishContent struct{ MadePrivate []string }
	}
	srv.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": c.UpsertContent.ID}).Decode(t, &un)
	if len(un.UnpublishContent.MadePrivate) != 1 {
		t.Fatalf("unpublish: %+v", un)
	}
	purged := map[string]bool{}
	for len(purged) < len(paths) {
		var ev events.Event
		select {
		case ev = <-evs:
		case <-time.After(30 * time.Second):
			t.Fatalf("no purge events after 30s (purged: %v)", purged)
		}
		if !ev.OK || ev.MediaID != img.ID || ev.Cause != "unpublish" {
			t.Fatalf("purge event %+v", ev)
		}
		purged[strings.TrimPrefix(ev.Key, cache)] = true
	}
	for _, path := range paths {
		if !purged[path] {
			t.Errorf("%s was not purged (purged: %v)", path, purged)
		}
		if code, x := get(path); code != http.StatusForbidden || x != "MISS" {
			t.Errorf("%s after it turned private: %d %s, want 403 from Veil", path, code, x)
		}
	}
}

// TestPurgeURLs: an item's purge list holds its serve views first (original, each rendition's
// signed URL and its preset URL), then the direct storage URLs of the same files.
func TestPurgeURLs(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.DirectBaseURL = "https://bucket.example/media"
	cfg.Renditions.Presets = map[string]string{"thumb": "width-40|format-png"}
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg, Purger: purgeNothing{}, PurgeBaseURL: "https://media.example"})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)
	var q struct {
		Image struct{ Rendition struct{ URL string } }
	}
	srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-40|format-png") { url } } }`, map[string]any{"id": img.ID}).Decode(t, &q)
	if resp, _ := srv.Get(t, q.Image.Rendition.URL, nil); resp.StatusCode != 200 {
		t.Fatalf("rendition: %d", resp.StatusCode)
	}
	urls, err := srv.Media.PurgeURLs(context.Background(), []string{img.ID, "img_01ARZ3NDEKTSV4RRFFQ69G5FAV"})
	if err != nil {
		t.Fatal(err)
	}
	got := urls[img.ID]
	if len(urls) != 1 || len(got) != 5 {
		t.Fatalf("purge urls: %v", urls)
	}
	want := []string{"https://media.example/media/originals/" + img.ID + "/", "https://media.example" + q.Image.Rendition.URL,
		"https://media.example/media/renditions/" + img.ID + "/preset/thumb", "https://bucket.example/media/originals/", "https://bucket.example/media/renditions/"}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("url %d = %s, want prefix %s", i, got[i], w)
		}
	}
}

type purgeNothing struct{}

func (purgeNothing) Purge(_ context.Context, urls []string) []purge.Result {
	out := make([]purge.Result, len(urls))
	for i, u := range urls {
		out[i] = purge.Result{URL: u, OK: true}
	}
	return out
}
func (purgeNothing) Name() string { return "nothing (test)" }

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://m.example/media/renditions/img_A/c2lnbmF0dXJl/width-40%7Cformat-png.png": "https://m.example/media/renditions/img_A/…/width-40%7Cformat-png.png",
		"/media/renditions/img_A/sig/fill-10x10@1.2.3.4.webp":                             "/media/renditions/img_A/…/fill-10x10@1.2.3.4.webp",
		"https://m.example/media/renditions/img_A/preset/thumb.png":                       "https://m.example/media/renditions/img_A/preset/thumb.png",
		"https://m.example/media/originals/img_A/a.jpg":                                   "https://m.example/media/originals/img_A/a.jpg",
	} {
		if got := media.RedactURL(in); got != want {
			t.Errorf("RedactURL(%s) = %s, want %s", in, got, want)
		}
	}
}
