package library

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestPageAndModulesAreSelfContained (issue 12): the page is served with a policy that allows
// nothing but this server (no inline script, no inline style), references nothing elsewhere, and
// every module it loads, followed through their imports, is served as JavaScript.
func TestPageAndModulesAreSelfContained(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, page := get(t, srv, http.MethodGet, Prefix, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self'", "img-src 'self' blob:;", "frame-ancestors 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`).Match(page) || regexp.MustCompile(`(?i)\sstyle=|\son[a-z]+=`).Match(page) {
		t.Errorf("inline script, style or handler in the page: the policy allows none\n%s", page)
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(page) {
		t.Errorf("the page references another host:\n%s", page)
	}

	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	seen := map[string]bool{}
	queue := []string{}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/library/[^"]+)"`).FindAllSubmatch(page, -1) {
		queue = append(queue, string(m[1]))
	}
	importRE := regexp.MustCompile(`(?m)^\s*import\b[^'"]*['"]([^'"]+)['"]`)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp, body := get(t, srv, http.MethodGet, p, nil)
		ext := p[strings.LastIndexByte(p, '.'):]
		if resp.StatusCode != 200 || len(body) == 0 || resp.Header.Get("Content-Type") != types[ext] || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, %d bytes, %q", p, resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
			continue
		}
		if ext != ".js" {
			continue
		}
		if regexp.MustCompile(`(?i)https?://|\binnerHTML\b|\beval\(|new Function\(|document\.cookie|localStorage`).Match(body) {
			t.Errorf("%s: another host, markup from strings, eval, a cookie or localStorage", p)
		}
		for _, m := range importRE.FindAllSubmatch(body, -1) {
			dir := p[:strings.LastIndexByte(p, '/')+1]
			queue = append(queue, dir+strings.TrimPrefix(string(m[1]), "./"))
		}
	}
	for _, want := range []string{"/library/js/main.js", "/library/js/api.js", "/library/js/live.js", "/library/js/item.js", "/library/library.css"} {
		if !seen[want] {
			t.Errorf("%s was never reached from the page (reached %v)", want, seen)
		}
	}

	for _, p := range []string{"/library/nope.js", "/library/js/", "/library/../server.go", "/library/library.go", "/library/index.html"} {
		if resp, _ := get(t, srv, http.MethodGet, p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ := get(t, srv, http.MethodPost, Prefix, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// TestCompressionAndRevalidation: gzip when accepted, the same bytes once unpacked; HEAD without a
// body; 304 for a matching ETag.
func TestCompressionAndRevalidation(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	_, plain := get(t, srv, http.MethodGet, "/library/js/api.js", nil)
	resp, gz := get(t, srv, http.MethodGet, "/library/js/api.js", map[string]string{"Accept-Encoding": "gzip"})
	if resp.Header.Get("Content-Encoding") != "gzip" || len(gz) >= len(plain) {
		t.Fatalf("gzip: %q, %d vs %d bytes", resp.Header.Get("Content-Encoding"), len(gz), len(plain))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if unpacked, _ := io.ReadAll(zr); !bytes.Equal(unpacked, plain) {
		t.Error("the gzip body unpacks to other bytes")
	}
	head, body := get(t, srv, http.MethodHead, Prefix, nil)
	if head.StatusCode != 200 || len(body) != 0 || head.Header.Get("Content-Length") == "" || head.Header.Get("ETag") == "" {
		t.Errorf("HEAD: %d, %d bytes", head.StatusCode, len(body))
	}
	if resp, _ := get(t, srv, http.MethodGet, Prefix, map[string]string{"If-None-Match": head.Header.Get("ETag")}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d", resp.StatusCode)
	}
}
