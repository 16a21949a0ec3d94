package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/veil-media/veil/veiltest"
)

// TestGraphQLCompressionAndCaching (issue 15.14): answers are compressed, br or gzip as
// negotiated, when the client accepts it and they are big enough to gain, byte-identical once decompressed; small answers and
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
	resp, br := do(http.MethodPost, big, "gzip, deflate, br", "")
	if resp.Header.Get("Content-Encoding") != "br" || len(br) >= len(plain)/2 {
		t.Fatalf("big answer: Content-Encoding %q, %d of %d bytes", resp.Header.Get("Content-Encoding"), len(br), len(plain))
	}
	if un, _ := io.ReadAll(brotli.NewReader(bytes.NewReader(br))); !bytes.Equal(un, plain) {
		t.Fatal("decompressed br answer differs from the plain one")
	}
	resp, gz := do(http.MethodPost, big, "gzip, deflate, br;q=0.5", "")
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
	if resp, _ := do(http.MethodPost, big, "gzip;q=0, br;q=0", ""); resp.Header.Get("Content-Encoding") != "" {
		t.Error("compressed although the client refused gzip and br")
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

// TestTextMediaCompression (issue 15, item 14): the serve views compress text documents (br or
// gzip, negotiated) as another representation, with its own ETag and no Range; documents that are
// compressed already (PDF) are sent as they are; the answer varies by Accept-Encoding (and by
// Authorization for a private item); a non-ASCII name has an ASCII filename= beside filename*; a
// text document over 8 MiB is sent as it is.
func TestTextMediaCompression(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var csv strings.Builder
	csv.WriteString("id,name,size\n")
	for i := range 400 {
		fmt.Fprintf(&csv, "%d,item %d,%d\n", i, i, i*37)
	}
	text := veiltest.Part{Filename: "Größe Übersicht.csv", ContentType: "text/csv", Body: strings.NewReader(csv.String())}
	doc := srv.UploadDocument(t, text, nil)
	pdf := srv.UploadDocument(t, veiltest.FilePart(t, "../testdata/corpus/documents/shared-mime-info-spec.pdf"), nil)

	get := func(path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
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
	plainResp, plain := get(doc.URL, nil)
	if plainResp.StatusCode != 200 || string(plain) != csv.String() {
		t.Fatalf("plain: %d, %d bytes", plainResp.StatusCode, len(plain))
	}
	for _, enc := range []string{"br", "gzip"} {
		t.Run(enc, func(t *testing.T) {
			resp, body := get(doc.URL, map[string]string{"Accept-Encoding": enc, "Range": "bytes=0-9"})
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != enc || len(body) >= len(plain)/2 {
				t.Fatalf("%d, Content-Encoding %q, %d of %d bytes", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body), len(plain))
			}
			var zr io.Reader = brotli.NewReader(bytes.NewReader(body))
			if enc == "gzip" {
				var err error
				if zr, err = gzip.NewReader(bytes.NewReader(body)); err != nil {
					t.Fatal(err)
				}
			}
			if un, _ := io.ReadAll(zr); !bytes.Equal(un, plain) {
				t.Fatal("decompressed document differs")
			}
			etag := resp.Header.Get("ETag")
			if etag == "" || etag == plainResp.Header.Get("ETag") {
				t.Errorf("ETag %q, identity's %q", etag, plainResp.Header.Get("ETag"))
			}
			if r, b := get(doc.URL, map[string]string{"Accept-Encoding": enc, "If-None-Match": etag}); r.StatusCode != http.StatusNotModified || len(b) != 0 {
				t.Errorf("revalidation: %d, %d bytes", r.StatusCode, len(b))
			}
			vary := strings.Join(resp.Header.Values("Vary"), ",")
			for _, v := range []string{"Accept-Encoding", "Authorization"} {
				if !strings.Contains(vary, v) {
					t.Errorf("Vary %q lacks %s", vary, v)
				}
			}
		})
	}
	if r, b := get(doc.URL, map[string]string{"Range": "bytes=0-9"}); r.StatusCode != http.StatusPartialContent || string(b) != csv.String()[:10] {
		t.Errorf("identity range: %d %q", r.StatusCode, b)
	}
	if r, _ := get(pdf.URL, map[string]string{"Accept-Encoding": "br, gzip"}); r.StatusCode != 200 || r.Header.Get("Content-Encoding") != "" {
		t.Errorf("PDF: %d, Content-Encoding %q", r.StatusCode, r.Header.Get("Content-Encoding"))
	} else if vary := r.Header.Values("Vary"); len(vary) != 1 || vary[0] != "Authorization" {
		// Every private response starts from one shared Vary value; the text document's
		// Accept-Encoding was added to its own copy, never into the shared one.
		t.Errorf("PDF after the compressed text: Vary %q, want just Authorization", vary)
	}
	// A text document over compressMaxBytes goes as it is (sendfile, Range), whatever is accepted.
	big := srv.UploadDocument(t, veiltest.Part{Filename: "big.txt", ContentType: "text/plain",
		Body: strings.NewReader(strings.Repeat("a line of text that compresses well\n", (8<<20)/36+1))}, nil)
	if r, b := get(big.URL, map[string]string{"Accept-Encoding": "br, gzip", "Range": "bytes=0-9"}); r.StatusCode != http.StatusPartialContent || r.Header.Get("Content-Encoding") != "" || string(b) != "a line of " {
		t.Errorf("large text document: %d, Content-Encoding %q, %q", r.StatusCode, r.Header.Get("Content-Encoding"), b)
	}
	cd := plainResp.Header.Get("Content-Disposition")
	if !strings.Contains(cd, `filename="Gro_e Ubersicht.csv"`) {
		t.Errorf("Content-Disposition %q has no ASCII fallback", cd)
	}
	if !strings.Contains(cd, "filename*=utf-8''Gr%C3%B6%C3%9Fe%20%C3%9Cbersicht.csv") {
		t.Errorf("Content-Disposition %q lacks the exact name", cd)
	}
}
