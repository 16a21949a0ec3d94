package purge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/purge"
)

// fast keeps retries quick in tests; no test asserts how long anything took.
var fast = purge.Options{Backoff: time.Millisecond, Timeout: 5 * time.Second}

func TestOpen(t *testing.T) {
	for _, c := range []struct{ spec, name string }{
		{"log", "log"},
		{"purge", "http-purge"},
		{"purge:http://127.0.0.1:6081", "http-purge"},
		{"purge:https://varnish.internal/prefix/", "http-purge"},
		{"webhook:https://purge.example/hook?x=1", "webhook"},
		{"webhook:http://127.0.0.1:8080/purge", "webhook"},
	} {
		p, err := purge.Open(c.spec, "", fast, nil)
		if err != nil || p == nil || p.Name() != c.name {
			t.Errorf("%q: %v, %v; want a %s purger", c.spec, p, err, c.name)
		}
	}
	if p, err := purge.Open("", "", fast, nil); p != nil || err != nil {
		t.Errorf(`"" must mean no purging, got %v, %v`, p, err)
	}
	for _, c := range []struct{ spec, want string }{
		{"varnish", `"varnish": use log, purge, purge:<http(s) url> or webhook:<http(s) url>`},
		{"PURGE", "use log, purge"},
		{"log:extra", "use log, purge"},
		{"fastly:https://api.fastly.com", "use log, purge"},
		{"purge:", `purge endpoint "": must be an http:// or https:// URL`},
		{"purge:file:///etc/passwd", `purge endpoint "file:///etc/passwd": must be an http:// or https:// URL`},
		{"webhook:ftp://x/purge", "must be an http:// or https:// URL"},
		{"webhook:javascript:alert(1)", "must be an http:// or https:// URL"},
		{"purge:127.0.0.1:6081", "must be an http:// or https:// URL"},
		{"webhook:http://", `webhook endpoint "http://": has no host`},
		{"purge:http:///media", "has no host"},
		{"purge:http://:6081", "has no host"},
		{"purge:http://cdn:99999", "port 99999 is out of range"},
		{"purge:http://user:pw@cdn", "must not carry credentials"},
		{"purge:http://cdn host", "contains white space"},
		{" log", "contains white space"},
		{"purge\t", "contains white space"},
		{"purge:http://127.0.0.1:6081\n", "contains white space"},
		{"webhook:https://x/#frag", "must not have a fragment"},
		{"purge:http://cdn/?x=1", "must not have a query"},
		{"purge:%zz", "must be an http:// or https:// URL"},
		{"purge:http://cdn/%zz", `purge endpoint "http://cdn/%zz": not a URL: invalid URL escape "%zz"`},
		{"purge:http://[::1", "not a URL"},
		{"webhook:https://u:s3cret@x y", "contains white space"},
		{"webhook:https://u:s3cret@[::1/hook", "not a URL"},
	} {
		_, err := purge.Open(c.spec, "", fast, nil)
		var fe *config.FieldError // on the field of VEIL_CDN_PURGE, which package app names
		if !errors.As(err, &fe) || fe.Field != "CDNPurge" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error on CDNPurge saying %q", c.spec, err, c.want)
		} else if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", c.spec, err)
		}
	}
}

// request is what a test server saw of one request.
type request struct{ Method, URI, Host, Auth, Body string }

// recorder is an httptest server that records every request and answers with answer (nil: 200).
func recorder(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, try int)) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var seen []request
	tries := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), string(body)})
		tries[r.RequestURI]++
		try := tries[r.RequestURI]
		mu.Unlock()
		if answer != nil {
			answer(w, r, try)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

// TestHTTPPurgeRequests: each URL gets one PURGE; at an endpoint, the URL's path and query go
// after the endpoint's path and the URL's host, as a browser sends it, goes in Host. Without an
// endpoint the URL is purged where it points.
func TestHTTPPurgeRequests(t *testing.T) {
	srv, seen := recorder(t, nil)
	p, err := purge.Open("purge:"+srv.URL+"/varnish/", "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{
		"https://cdn.example.com/media/originals/img_1/photo%20one.jpg",
		"https://CDN.Example.com:443/media/renditions/img_1/sig/width-100.webp?v=2&w=1",
		"http://cdn.example.com:8080/a%2Fb",
		"http://cdn.example.com",
	}
	for _, r := range p.Purge(context.Background(), urls) {
		if !r.OK || r.Status != http.StatusOK || r.Err != "" {
			t.Errorf("%+v", r)
		}
	}
	want := []request{
		{Method: "PURGE", URI: "/varnish/media/originals/img_1/photo%20one.jpg", Host: "cdn.example.com"},
		{Method: "PURGE", URI: "/varnish/media/renditions/img_1/sig/width-100.webp?v=2&w=1", Host: "cdn.example.com"},
		{Method: "PURGE", URI: "/varnish/a%2Fb", Host: "cdn.example.com:8080"},
		{Method: "PURGE", URI: "/varnish/", Host: "cdn.example.com"},
	}
	if got := sortedRequests(seen()); fmt.Sprint(got) != fmt.Sprint(sortedRequests(want)) {
		t.Errorf("requests:\n got %v\nwant %v", got, sortedRequests(want))
	}

	direct, seenDirect := recorder(t, nil)
	p, err = purge.Open("purge", "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(direct.URL, "http://")
	if r := p.Purge(context.Background(), []string{direct.URL + "/media/x?y=1"}); !r[0].OK {
		t.Errorf("%+v", r[0])
	}
	if got := seenDirect(); len(got) != 1 || got[0] != (request{Method: "PURGE", URI: "/media/x?y=1", Host: host}) {
		t.Errorf("as-is purge sent %v", got)
	}
}

func sortedRequests(rs []request) []request {
	out := append([]request(nil), rs...)
	slices.SortFunc(out, func(a, b request) int { return strings.Compare(a.URI+" "+a.Host, b.URI+" "+b.Host) })
	return out
}

// TestHTTPPurgeConcurrency: the purger keeps exactly its limit of requests in flight. The server
// holds every request until the limit is reached (or no more will come), so a purger that sent
// fewer at once would time out and one that sent more would be seen doing it.
func TestHTTPPurgeConcurrency(t *testing.T) {
	for _, c := range []struct {
		concurrency, limit, urls int
	}{
		{concurrency: 4, limit: 4, urls: 40},
		{concurrency: 0, limit: 16, urls: 50}, // the default
		{concurrency: 8, limit: 5, urls: 5},   // fewer URLs than the limit
	} {
		t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
			var mu sync.Mutex
			inFlight, peak, started := 0, 0, 0
			gate := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				started++
				inFlight++
				peak = max(peak, inFlight)
				g := gate
				if inFlight >= c.limit || started == c.urls {
					close(gate)
					gate = make(chan struct{})
				}
				mu.Unlock()
				select {
				case <-g:
				case <-r.Context().Done():
				}
				mu.Lock()
				inFlight--
				mu.Unlock()
			}))
			defer srv.Close()
			opts := fast
			opts.Concurrency = c.concurrency
			opts.Retries = -1
			p, err := purge.Open("purge:"+srv.URL, "", opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			urls := make([]string, c.urls)
			for i := range urls {
				urls[i] = fmt.Sprintf("https://cdn.example/media/%d", i)
			}
			for _, r := range p.Purge(context.Background(), urls) {
				if !r.OK {
					t.Errorf("%+v", r)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if want := min(c.limit, c.urls); peak != want || started != c.urls {
				t.Errorf("%d requests, at most %d in flight; want %d and %d", started, peak, c.urls, want)
			}
		})
	}
}

// TestHTTPPurgeOutcomes: 2xx and 404 purge; 5xx and network errors are retried, other statuses
// are not; every URL gets its own result, in input order, whatever happened to the others.
func TestHTTPPurgeOutcomes(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, try int) {
		switch path := r.URL.Path; {
		case strings.HasPrefix(path, "/flaky/") && try == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasPrefix(path, "/busy/") && try < 3:
			w.WriteHeader(http.StatusTooManyRequests)
		case strings.HasPrefix(path, "/drop/") && try == 1:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // a network error: no answer at all
			}
		case strings.HasPrefix(path, "/down/"):
			w.WriteHeader(http.StatusBadGateway)
		case strings.HasPrefix(path, "/gone/"):
			w.WriteHeader(http.StatusNotFound)
		case strings.HasPrefix(path, "/empty/"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(path, "/denied/"):
			w.WriteHeader(http.StatusForbidden)
		case strings.HasPrefix(path, "/moved/"):
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	})
	p, err := purge.Open("purge:"+srv.URL, "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url     string
		ok      bool
		status  int
		tries   int
		errPart string
	}{
		{"https://cdn.example/ok/a", true, 200, 1, ""},
		{"https://cdn.example/flaky/b", true, 200, 2, ""},
		{"https://cdn.example/busy/c", true, 200, 3, ""},
		{"https://cdn.example/drop/d", true, 200, 2, ""},
		{"https://cdn.example/down/e", false, 502, 3, "answered 502 Bad Gateway (after 3 tries)"},
		{"https://cdn.example/gone/f", true, 404, 1, ""},
		{"https://cdn.example/empty/g", true, 204, 1, ""},
		{"https://cdn.example/denied/h", false, 403, 1, "answered 403 Forbidden"},
		{"https://cdn.example/moved/i", false, 302, 1, "answered 302 Found"},
		{"not a url", false, 0, 0, "not an absolute http(s) URL"},
		{"/media/relative", false, 0, 0, "not an absolute http(s) URL"},
		{"ftp://cdn.example/x", false, 0, 0, "not an absolute http(s) URL"},
		{"https://cdn.example/ok/j", true, 200, 1, ""},
	}
	urls := make([]string, len(cases))
	for i, c := range cases {
		urls[i] = c.url
	}
	res := p.Purge(context.Background(), urls)
	if len(res) != len(urls) {
		t.Fatalf("%d results for %d urls", len(res), len(urls))
	}
	tries := map[string]int{}
	for _, r := range seen() {
		if r.Method != "PURGE" || r.Host != "cdn.example" {
			t.Errorf("request %+v", r)
		}
		tries["https://cdn.example"+r.URI]++
	}
	for i, c := range cases {
		r := res[i]
		if r.URL != c.url {
			t.Fatalf("result %d is for %s, want %s (input order)", i, r.URL, c.url)
		}
		if r.OK != c.ok || r.Status != c.status || tries[c.url] != c.tries || (r.Err == "") != c.ok || !strings.Contains(r.Err, c.errPart) {
			t.Errorf("%s: %+v after %d tries; want ok=%v status %d after %d tries, error %q", c.url, r, tries[c.url], c.ok, c.status, c.tries, c.errPart)
		}
	}
}

// TestHTTPPurgeTimeout: a cache that never answers fails the URL once every try has timed out.
func TestHTTPPurgeTimeout(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	p, err := purge.Open("purge:"+srv.URL, "", purge.Options{Timeout: 50 * time.Millisecond, Backoff: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := p.Purge(context.Background(), []string{"http://cdn.example/x"})
	if res[0].OK || res[0].Status != 0 || !strings.Contains(res[0].Err, "deadline exceeded") || !strings.Contains(res[0].Err, "after 3 tries") {
		t.Errorf("%+v", res[0])
	}
	if n := len(seen()); n != 3 {
		t.Errorf("%d tries, want 3 (2 retries by default)", n)
	}
}

// TestHTTPPurgeCanceled: with its context ended, a purge still reports every URL, as failed.
func TestHTTPPurgeCanceled(t *testing.T) {
	srv, _ := recorder(t, nil)
	p, err := purge.Open("purge:"+srv.URL, "", purge.Options{Concurrency: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := p.Purge(ctx, []string{"http://cdn.example/a", "http://cdn.example/b", "http://cdn.example/c"})
	for i, r := range res {
		if r.OK || r.Err == "" || r.URL != fmt.Sprintf("http://cdn.example/%c", 'a'+i) {
			t.Errorf("%+v", r)
		}
	}
}

// TestWebhook: 250 URLs go as POSTs of 100, 100 and 50, with the exact JSON body and the
// Authorization header; a batch refused with a 4xx fails exactly its URLs and is not retried.
func TestWebhook(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, try int) {
		if try == 2 || r.Header.Get("Content-Type") != "application/json" { // batches go one after the other
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	p, err := purge.Open("webhook:"+srv.URL+"/purge?zone=media", "Bearer s3cret", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	urls := make([]string, 250)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://cdn.example/media/%d?w=1&h=2", i)
	}
	res := p.Purge(context.Background(), urls)
	got := seen()
	if len(got) != 3 {
		t.Fatalf("%d POSTs, want 3", len(got))
	}
	for i, batch := range [][]string{urls[:100], urls[100:200], urls[200:]} {
		want := `{"urls":["` + strings.Join(batch, `","`) + `"]}`
		if r := got[i]; r.Method != http.MethodPost || r.URI != "/purge?zone=media" || r.Auth != "Bearer s3cret" || r.Body != want {
			t.Errorf("POST %d: %s %s auth %q body\n%.200s…\nwant\n%.200s…", i, r.Method, r.URI, r.Auth, r.Body, want)
		}
	}
	if len(res) != len(urls) {
		t.Fatalf("%d results for %d urls", len(res), len(urls))
	}
	for i, r := range res {
		ok := i < 100 || i >= 200
		status := http.StatusAccepted
		if !ok {
			status = http.StatusBadRequest
		}
		if r.URL != urls[i] || r.OK != ok || r.Status != status || (r.Err == "") != ok {
			t.Errorf("url %d: %+v", i, r)
		}
	}
}

// TestWebhookRetry: a 503 is retried with the same body; no Authorization header without auth;
// a webhook that keeps failing fails every URL of the batch.
func TestWebhookRetry(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request, try int) {
		if r.URL.Path == "/down" || try == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	p, err := purge.Open("webhook:"+srv.URL+"/hook", "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{"https://cdn.example/a", "https://cdn.example/b"}
	for _, r := range p.Purge(context.Background(), urls) {
		if !r.OK || r.Status != http.StatusOK {
			t.Errorf("%+v", r)
		}
	}
	got := seen()
	want := `{"urls":["https://cdn.example/a","https://cdn.example/b"]}`
	if len(got) != 2 || got[0] != got[1] || got[1].Body != want || got[1].Auth != "" {
		t.Errorf("POSTs %+v", got)
	}

	p, _ = purge.Open("webhook:"+srv.URL+"/down", "", fast, nil)
	for _, r := range p.Purge(context.Background(), urls) {
		if r.OK || r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Err, "answered 503 Service Unavailable (after 3 tries)") {
			t.Errorf("%+v", r)
		}
	}
	if n := len(seen()); n != 2+3 {
		t.Errorf("%d POSTs to a failing webhook, want 3", n-2)
	}
	if res := p.Purge(context.Background(), nil); len(res) != 0 || len(seen()) != 5 {
		t.Errorf("no URLs must mean no POST: %v", res)
	}
}

// TestLog: the log purger logs each URL at Info and reports it purged.
func TestLog(t *testing.T) {
	var buf bytes.Buffer
	p, err := purge.Open("log", "", purge.Options{}, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{"https://cdn.example/a", "https://cdn.example/b?x=1"}
	res := p.Purge(context.Background(), urls)
	for i, r := range res {
		if r != (purge.Result{URL: urls[i], OK: true}) {
			t.Errorf("%+v", r)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `level=INFO msg="cdn purge" url=https://cdn.example/a`) ||
		!strings.Contains(lines[1], `url="https://cdn.example/b?x=1"`) {
		t.Errorf("log:\n%s", buf.String())
	}
}

// TestLogRedacts: with Options.Redact the log purger logs the redacted URL and still reports the
// real one.
func TestLogRedacts(t *testing.T) {
	var buf bytes.Buffer
	p, _ := purge.Open("log", "", purge.Options{Redact: func(string) string { return "REDACTED" }}, slog.New(slog.NewTextHandler(&buf, nil)))
	res := p.Purge(context.Background(), []string{"https://cdn.example/media/renditions/img_x/SIGNATURE/width-10.png"})
	if !res[0].OK || !strings.Contains(res[0].URL, "SIGNATURE") || strings.Contains(buf.String(), "SIGNATURE") || !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("%+v\n%s", res[0], buf.String())
	}
}
