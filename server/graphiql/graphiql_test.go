package graphiql

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

func get(t *testing.T, srv *httptest.Server, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestPageIsSelfContained (issue 15.3): the page and everything it references are served by Veil
// itself; nothing points at another host; the policy allows only this server.
func TestPageIsSelfContained(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, page := get(t, srv, "/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(page) {
		t.Errorf("the page references another host:\n%s", page)
	}
	if bytes.Contains(page, []byte("<script>")) {
		t.Error("inline script: the CSP allows none")
	}
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]+)"`).FindAllSubmatch(page, -1)
	if len(refs) < 6 {
		t.Fatalf("page references %d assets", len(refs))
	}
	for _, m := range refs {
		p := string(m[1])
		resp, body := get(t, srv, p, nil)
		if resp.StatusCode != 200 || len(body) == 0 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
		if strings.Contains(p, "/vendor/") != strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Cache-Control %q", p, resp.Header.Get("Cache-Control"))
		}
	}
	for _, lic := range []string{"/graphiql/vendor/graphiql-4.1.2/LICENSE", "/graphiql/vendor/react-18.2.0/LICENSE", "/graphiql/vendor/react-dom-18.2.0/LICENSE"} {
		if resp, _ := get(t, srv, lic, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d", lic, resp.StatusCode)
		}
	}
	if resp, body := get(t, srv, "/favicon.ico", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/x-icon" || !bytes.HasPrefix(body, []byte{0, 0, 1, 0}) {
		t.Errorf("favicon: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/graphiql/", "/graphiql/vendor/fetch.sh", "/graphiql/../graphiql.go", "/graphiql/nope.js"} {
		if resp, _ := get(t, srv, p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestPageCompressionAndRevalidation: br or gzip as negotiated (and never when refused), 304 on a
// matching ETag.
func TestPageCompressionAndRevalidation(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	const js = "/graphiql/vendor/graphiql-4.1.2/graphiql.min.js"
	plainResp, plain := get(t, srv, js, nil)
	resp, br := get(t, srv, js, map[string]string{"Accept-Encoding": "gzip;q=0.8, br;q=1"})
	if resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("Vary") != "Accept-Encoding" || len(br) >= len(gzipped(plain)) {
		t.Fatalf("br: encoding %q, %d of %d bytes", resp.Header.Get("Content-Encoding"), len(br), len(plain))
	}
	if un, _ := io.ReadAll(brotli.NewReader(bytes.NewReader(br))); !bytes.Equal(un, plain) {
		t.Fatal("br body differs from the plain one")
	}
	if resp.Header.Get("ETag") == plainResp.Header.Get("ETag") {
		t.Error("the br and identity representations share an ETag")
	}
	brTag := resp.Header.Get("ETag")
	if resp, body := get(t, srv, js, map[string]string{"Accept-Encoding": "br", "If-None-Match": brTag}); resp.StatusCode != 304 || len(body) != 0 {
		t.Errorf("br revalidation: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, gz := get(t, srv, js, map[string]string{"Accept-Encoding": "br;q=0.5, gzip;q=0.8"})
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" || len(gz) >= len(plain)/2 {
		t.Fatalf("gzip: encoding %q, %d of %d bytes", resp.Header.Get("Content-Encoding"), len(gz), len(plain))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if un, _ := io.ReadAll(zr); !bytes.Equal(un, plain) {
		t.Fatal("gzip body differs from the plain one")
	}
	if resp, _ := get(t, srv, js, map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent although refused")
	}
	if resp, body := get(t, srv, js, map[string]string{"If-None-Match": plainResp.Header.Get("ETag")}); resp.StatusCode != 304 || len(body) != 0 {
		t.Errorf("revalidation: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
