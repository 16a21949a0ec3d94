package purge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/veiltest"
)

// fast keeps retries quick in tests.
var fast = purge.Options{Backoff: time.Millisecond, Timeout: 2 * time.Second}

func TestOpen(t *testing.T) {
	for _, spec := range []string{"", "log", "purge", "purge:http://127.0.0.1:6081", "webhook:https://purge.example/hook?x=1"} {
		if _, err := purge.Open(spec, "", fast, nil); err != nil {
			t.Errorf("%q: %v", spec, err)
		}
	}
	if p, _ := purge.Open("", "", fast, nil); p != nil {
		t.Errorf(`"" must mean no purger, got %T`, p)
	}
	for _, spec := range []string{"varnish", "purge:", "purge:file:///etc/passwd", "webhook:ftp://x", "webhook:http://",
		"purge:http://user:pw@cdn", "purge:http://cdn host", "webhook:https://x/#frag", "purge:%zz", "PURGE", "log:extra"} {
		_, err := purge.Open(spec, "", fast, nil)
		if err == nil || !strings.Contains(err.Error(), "VEIL_CDN_PURGE") {
			t.Errorf("%q: want an error naming VEIL_CDN_PURGE, got %v", spec, err)
		}
	}
}

// TestHTTPPurge: PURGE per URL at the endpoint with the public host in Host, bounded
// concurrency, retry of 5xx, 404 as success, and per-URL failures that stop nothing.
func TestHTTPPurge(t *testing.T) {
	var inFlight, peak atomic.Int64
	var mu sync.Mutex
	seen := map[string]string{} // path → Host
	tries := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		if r.Method != "PURGE" {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		seen[r.URL.RequestURI()] = r.Host
		tries[r.URL.Path]++
		try := tries[r.URL.Path]
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/flaky/") && try == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasPrefix(r.URL.Path, "/gone/"):
			w.WriteHeader(http.StatusNotFound)
		case strings.HasPrefix(r.URL.Path, "/denied/"):
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	opts := fast
	opts.Concurrency = 4
	p, err := purge.Open("purge:"+srv.URL, "", opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for i := range 40 {
		urls = append(urls, fmt.Sprintf("https://cdn.example/media/renditions/img_%d/t/width-100.webp", i))
	}
	urls = append(urls, "https://cdn.example/flaky/a?v=1", "https://cdn.example/gone/b", "https://cdn.example/denied/c", "not a url")
	res := p.Purge(context.Background(), urls)
	if len(res) != len(urls) {
		t.Fatalf("%d results for %d urls", len(res), len(urls))
	}
	for i, r := range res {
		if r.URL != urls[i] {
			t.Fatalf("result %d is for %s, want %s (input order)", i, r.URL, urls[i])
		}
		wantOK := !strings.Contains(r.URL, "/denied/") && r.URL != "not a url"
		if r.OK != wantOK || (!r.OK && r.Err == "") {
			t.Errorf("%s: %+v", r.URL, r)
		}
	}
	if res[len(res)-2].Status != http.StatusForbidden {
		t.Errorf("denied status %d", res[len(res)-2].Status)
	}
	if peak.Load() > 4 {
		t.Errorf("%d purges in flight at once, limit 4", peak.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["/flaky/a?v=1"] != "cdn.example" || tries["/flaky/a"] != 2 {
		t.Errorf("flaky: host %q, tries %d", seen["/flaky/a?v=1"], tries["/flaky/a"])
	}
	if tries["/denied/c"] != 1 {
		t.Errorf("a 403 must not be retried, tried %d times", tries["/denied/c"])
	}
}

// TestHTTPPurgeTimeout: a CDN that never answers fails the URL after the timeout (and retries).
func TestHTTPPurgeTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	p, _ := purge.Open("purge:"+srv.URL, "", purge.Options{Timeout: 50 * time.Millisecond, Retries: -1}, nil)
	res := p.Purge(context.Background(), []string{"http://cdn/x"})
	if res[0].OK || !strings.Contains(res[0].Err, "deadline") {
		t.Errorf("%+v", res[0])
	}
}

// TestWebhook: 250 URLs go as POSTs of 100, 100 and 50 with the exact JSON body and the auth
// header; a failing batch fails exactly its URLs.
func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer s3cret" {
			t.Errorf("request: %s %v", r.Method, r.Header)
		}
		raw, _ := io.ReadAll(r.Body)
		var body struct {
			URLs []string `json:"urls"`
		}
		if err := json.Unmarshal(raw, &body); err != nil || !strings.HasPrefix(string(raw), `{"urls":[`) {
			t.Errorf("body %s: %v", raw, err)
		}
		mu.Lock()
		bodies = append(bodies, body.URLs)
		n := len(bodies)
		mu.Unlock()
		if n == 2 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	p, err := purge.Open("webhook:"+srv.URL+"/purge", "Bearer s3cret", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	urls := make([]string, 250)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://cdn.example/media/%d", i)
	}
	res := p.Purge(context.Background(), urls)
	if len(bodies) != 3 || len(bodies[0]) != 100 || len(bodies[1]) != 100 || len(bodies[2]) != 50 || bodies[2][49] != urls[249] {
		t.Fatalf("batches: %d", len(bodies))
	}
	for i, r := range res {
		if want := i < 100 || i >= 200; r.OK != want || r.URL != urls[i] {
			t.Errorf("url %d: %+v", i, r)
		}
	}
}

// TestVarnishPurge: a real Varnish caches a public 200 and a 302; PURGE through the purger removes
// both, and the next request goes to the backend again.
func TestVarnishPurge(t *testing.T) {
	var hits atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if strings.HasPrefix(r.URL.Path, "/redirect/") {
			http.Redirect(w, r, "https://storage.example/x", http.StatusFound)
			return
		}
		fmt.Fprint(w, "pixels")
	}))
	defer backend.Close()
	cache := veiltest.StartVarnish(t, backend.URL)
	get := func(path string) string {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(cache + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}
	p, err := purge.Open("purge:"+cache, "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/media/renditions/a/t/w.webp", "/redirect/b"} {
		before := hits.Load()
		if a, b := get(path), get(path); a != "MISS" || b != "HIT" || hits.Load()-before != 1 {
			t.Fatalf("%s: %s then %s, backend hit %d times", path, a, b, hits.Load()-before)
		}
		res := p.Purge(context.Background(), []string{cache + path}) // the cache keys on the Host clients use
		if !res[0].OK {
			t.Fatalf("purge %s: %+v", path, res[0])
		}
		if got := get(path); got != "MISS" || hits.Load()-before != 2 {
			t.Errorf("%s after purge: %s, backend hit %d times", path, got, hits.Load()-before)
		}
	}
}
