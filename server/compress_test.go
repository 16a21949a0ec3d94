package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// TestGraphQLCompressionAndCaching (issue 15.14): answers are gzip-compressed when the client
// accepts it and they are big enough to gain, byte-identical once decompressed; small answers and
// refusing clients get plain ones; GET answers are private and uncacheable; every answer varies by
// Authorization and Accept-Encoding; SSE streams are never compressed.
func TestGraphQLCompressionAndCaching(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	const big = `{ __schema { types { name description } } }`
	do := func(method, query, acceptEncoding, accept string) (*http.Response, []byte) {
		t.Helper()
		var req *http.Request
		if method == http.MethodGet {
			req, _ = http.NewRequest(method, srv.URL+"/graphql?query="+url.QueryEscape(query), nil)
		} else {
			body, _ := json.Marshal(map[string]any{"query": query})
			req, _ = http.NewRequest(method, srv.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding) // set by hand: the client does not decompress
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	_, plain := do(http.MethodPost, big, "", "")
	if len(plain) < 4000 {
		t.Fatalf("the big answer is only %d bytes", len(plain))
	}
	resp, gz := do(http.MethodPost, big, "gzip, deflate, br", "")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(gz) >= len(plain)/2 {
		t.Fatalf("big answer: Content-Encoding %q, %d of %d bytes", resp.Header.Get("Content-Encoding"), len(gz), len(plain))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if un, _ := io.ReadAll(zr); !bytes.Equal(un, plain) {
		t.Fatal("decompressed answer differs from the plain one")
	}
	for _, v := range []string{"Authorization", "Accept-Encoding"} {
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), v) {
			t.Errorf("Vary %v lacks %s", resp.Header.Values("Vary"), v)
		}
	}
	if resp, _ := do(http.MethodPost, big, "gzip;q=0", ""); resp.Header.Get("Content-Encoding") != "" {
		t.Error("compressed although the client refused gzip")
	}
	if resp, b := do(http.MethodPost, `{ me { email } }`, "gzip", ""); resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(b), "admin") {
		t.Errorf("small answer: Content-Encoding %q, %s", resp.Header.Get("Content-Encoding"), b)
	}
	resp, b := do(http.MethodGet, big, "gzip", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("GET: %d, Content-Encoding %q, Cache-Control %q (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Cache-Control"), len(b))
	}
	if resp, _ := do(http.MethodPost, big, "", ""); resp.Header.Get("Cache-Control") == "public" {
		t.Error("POST answer marked public")
	}
	resp, b = do(http.MethodPost, big, "gzip", "text/event-stream")
	if resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(b), "event: next") {
		t.Errorf("SSE: Content-Encoding %q, body %.200s", resp.Header.Get("Content-Encoding"), b)
	}
}
