package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// do sends one request to u, a path on srv or a whole URL (token "" is anonymous), without
// following redirects.
func do(t *testing.T, srv *veiltest.Server, method, u, token string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = srv.URL + u
	}
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := *srv.HTTP.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestServeStoredFileProtocol serves a stored rendition and an original from a folder bucket and
// checks the HTTP protocol the serve views promise, byte for byte against the stored file: whole
// GET, HEAD, single, suffix and multiple ranges, If-Range, If-None-Match, If-Modified-Since, an
// unsatisfiable range, the headers, and the refusals (anonymous on a private item, unknown id).
func TestServeStoredFileProtocol(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "media")
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), ACL: storage.NewFileACL(dir)})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
	rend := renditionOf(t, srv, img.ID, "width-400").URL
	if resp, _ := do(t, srv, http.MethodGet, rend, srv.Token, nil); resp.StatusCode != http.StatusOK { // generated here
		t.Fatalf("first GET of the rendition: %d", resp.StatusCode)
	}
	stored := func(prefix string) []byte {
		t.Helper()
		var found []byte
		_ = filepath.WalkDir(filepath.Join(dir, prefix, img.ID), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				found, err = os.ReadFile(p)
			}
			return err
		})
		if len(found) == 0 {
			t.Fatalf("no stored file under %s/%s", prefix, img.ID)
		}
		return found
	}
	for _, c := range []struct {
		name, path, contentType string
		want                    []byte
	}{
		{"rendition", rend, "image/jpeg", stored("renditions")},
		{"original", img.URL, "image/jpeg", stored("originals")},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(c.want)
			get := func(method string, h http.Header) (*http.Response, []byte) {
				return do(t, srv, method, c.path, srv.Token, h)
			}
			resp, body := get(http.MethodGet, nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, c.want) {
				t.Fatalf("GET: %d, %d bytes, want 200 and the stored %d bytes", resp.StatusCode, len(body), n)
			}
			for k, v := range map[string]string{
				"Content-Type": c.contentType, "Content-Length": fmt.Sprint(n), "Accept-Ranges": "bytes",
				"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff", "Vary": "Authorization",
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("GET: %s = %q, want %q", k, got, v)
				}
			}
			etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
			if etag == "" || lastMod == "" {
				t.Fatalf("GET: ETag %q, Last-Modified %q: both wanted", etag, lastMod)
			}
			modTime, err := http.ParseTime(lastMod)
			if err != nil {
				t.Fatalf("Last-Modified %q: %v", lastMod, err)
			}
			// A rendition's header values are made once per URL and reused: every GET answers the same.
			for i := range 2 {
				again, _ := get(http.MethodGet, nil)
				for _, k := range []string{"Content-Type", "ETag", "Last-Modified", "Content-Disposition", "Cache-Control", "Vary"} {
					if fmt.Sprint(again.Header.Values(k)) != fmt.Sprint(resp.Header.Values(k)) {
						t.Errorf("GET %d more: %s = %q, first %q", i+1, k, again.Header.Values(k), resp.Header.Values(k))
					}
				}
			}

			resp, body = get(http.MethodHead, nil)
			if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != int64(n) || resp.Header.Get("ETag") != etag {
				t.Errorf("HEAD: %d, %d body bytes, Content-Length %d, ETag %q; want 200, none, %d, %q", resp.StatusCode, len(body), resp.ContentLength, resp.Header.Get("ETag"), n, etag)
			}

			for _, r := range []struct {
				header     string
				from, to   int // the bytes wanted: c.want[from:to]
				whole      bool
				ifRange    string
				wantStatus int
			}{
				{header: "bytes=10-99", from: 10, to: 100, wantStatus: 206},
				{header: "bytes=0-0", from: 0, to: 1, wantStatus: 206},
				{header: "bytes=-50", from: n - 50, to: n, wantStatus: 206},
				{header: fmt.Sprintf("bytes=%d-", n-7), from: n - 7, to: n, wantStatus: 206},
				{header: "bytes=10-99", ifRange: etag, from: 10, to: 100, wantStatus: 206},
				{header: "bytes=10-99", ifRange: `"another"`, whole: true, wantStatus: 200},
				{header: "bytes=10-99", ifRange: lastMod, from: 10, to: 100, wantStatus: 206},
				{header: "bytes=10-99", ifRange: modTime.Add(-time.Hour).Format(http.TimeFormat), whole: true, wantStatus: 200},
			} {
				h := http.Header{"Range": {r.header}}
				if r.ifRange != "" {
					h.Set("If-Range", r.ifRange)
				}
				resp, body := get(http.MethodGet, h)
				want := c.want[r.from:r.to]
				if r.whole {
					want = c.want
				}
				if resp.StatusCode != r.wantStatus || !bytes.Equal(body, want) {
					t.Errorf("Range %s (If-Range %q): %d, %d bytes; want %d and %d bytes", r.header, r.ifRange, resp.StatusCode, len(body), r.wantStatus, len(want))
					continue
				}
				if cr := fmt.Sprintf("bytes %d-%d/%d", r.from, r.to-1, n); !r.whole && resp.Header.Get("Content-Range") != cr {
					t.Errorf("Range %s: Content-Range %q, want %q", r.header, resp.Header.Get("Content-Range"), cr)
				}
			}

			resp, body = get(http.MethodGet, http.Header{"Range": {"bytes=0-9,100-149,-5"}})
			mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if resp.StatusCode != http.StatusPartialContent || mt != "multipart/byteranges" {
				t.Fatalf("multiple ranges: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for _, want := range [][]byte{c.want[:10], c.want[100:150], c.want[n-5:]} {
				p, err := mr.NextPart()
				if err != nil {
					t.Fatalf("multiple ranges: %v", err)
				}
				got, _ := io.ReadAll(p)
				if !bytes.Equal(got, want) || p.Header.Get("Content-Type") != c.contentType {
					t.Errorf("multiple ranges: part %q of %d bytes (%s), want %d bytes", p.Header.Get("Content-Range"), len(got), p.Header.Get("Content-Type"), len(want))
				}
			}

			if resp, body := get(http.MethodGet, http.Header{"Range": {fmt.Sprintf("bytes=%d-", n)}}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", n) {
				t.Errorf("unsatisfiable range: %d, Content-Range %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
			}
			for _, h := range []http.Header{{"If-None-Match": {etag}}, {"If-Modified-Since": {lastMod}}, {"If-None-Match": {etag}, "Range": {"bytes=0-9"}}} {
				if resp, body := get(http.MethodGet, h); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
					t.Errorf("%v: %d with %d bytes, want 304 and none", h, resp.StatusCode, len(body))
				}
			}
			if resp, body := get(http.MethodGet, http.Header{"If-None-Match": {`"another"`}}); resp.StatusCode != http.StatusOK || !bytes.Equal(body, c.want) {
				t.Errorf("If-None-Match of another ETag: %d, %d bytes; want 200 and the file", resp.StatusCode, len(body))
			}
			earlier := modTime.Add(-time.Hour).Format(http.TimeFormat)
			if resp, body := get(http.MethodGet, http.Header{"If-Modified-Since": {earlier}}); resp.StatusCode != http.StatusOK || !bytes.Equal(body, c.want) || resp.Header.Get("Last-Modified") != lastMod {
				t.Errorf("If-Modified-Since an hour earlier: %d, %d bytes, Last-Modified %q; want 200, the file, %q", resp.StatusCode, len(body), resp.Header.Get("Last-Modified"), lastMod)
			}
			if resp, _ := get(http.MethodGet, http.Header{"If-Unmodified-Since": {earlier}}); resp.StatusCode != http.StatusPreconditionFailed {
				t.Errorf("If-Unmodified-Since an hour earlier: %d, want 412", resp.StatusCode)
			}
			if resp, body := get(http.MethodGet, http.Header{"If-Unmodified-Since": {lastMod}}); resp.StatusCode != http.StatusOK || !bytes.Equal(body, c.want) {
				t.Errorf("If-Unmodified-Since its own time: %d, %d bytes; want 200 and the file", resp.StatusCode, len(body))
			}

			if resp, _ := do(t, srv, http.MethodGet, c.path, "", nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("anonymous GET of a private item: %d, want 403", resp.StatusCode)
			}
		})
	}

	ctx := auth.WithViewer(context.Background(), auth.System)
	if err := srv.Media.DeleteImage(ctx, img.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{rend, img.URL} {
		if resp, _ := do(t, srv, http.MethodGet, p, srv.Token, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s of a deleted image: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestServePublicRendition serves a published image's rendition from a folder bucket with the
// file-mode driver, proxy-only (200 to anyone, cacheable by all) and with a direct URL (302 there,
// also after its file vanished behind Veil's back: it is made again, not redirected to a URL that
// would fail), and checks that unpublishing refuses anonymous requests at once on both.
func TestServePublicRendition(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "media")
			cfg := media.DefaultConfig()
			if direct {
				cfg.DirectBaseURL = "https://cdn.example"
			}
			srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), ACL: storage.NewFileACL(dir), Media: &cfg})
			img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
			ctx := auth.WithViewer(context.Background(), auth.System)
			contentID := publishInPage(t, srv, img.ID)
			rend := renditionOf(t, srv, img.ID, "width-400").URL
			file := func() string {
				t.Helper()
				m, _ := filepath.Glob(filepath.Join(dir, "renditions", img.ID, "*"))
				if len(m) != 1 {
					t.Fatalf("rendition files: %v, want one", m)
				}
				return m[0]
			}
			check := func(when string) {
				t.Helper()
				resp, body := do(t, srv, http.MethodGet, rend, "", nil)
				if direct {
					want := "https://cdn.example/" + strings.TrimPrefix(filepath.ToSlash(file()), filepath.ToSlash(dir)+"/")
					if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
						t.Errorf("%s: %d to %q (%s), want 302 to %s", when, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"), want)
					}
					return
				}
				stored, _ := os.ReadFile(file())
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored) || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header.Get("Content-Type") != "image/jpeg" {
					t.Errorf("%s: %d, %d bytes, %q, %q; want 200, the stored %d bytes, public and immutable, image/jpeg", when, resp.StatusCode, len(body), resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"), len(stored))
				}
			}
			check("first request") // generates it
			fi, err := os.Stat(file())
			if err != nil || fi.Mode().Perm() != 0o644 {
				t.Fatalf("rendition file: %v, %v; want mode 0644 (public)", fi, err)
			}
			check("stored")
			if err := os.Remove(file()); err != nil {
				t.Fatal(err)
			}
			check("file removed behind Veil's back")
			check("made again")

			if _, err := srv.Media.UnpublishContent(ctx, contentID); err != nil {
				t.Fatal(err)
			}
			if resp, _ := do(t, srv, http.MethodGet, rend, "", nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("anonymous after unpublish: %d, want 403", resp.StatusCode)
			}
			if resp, _ := do(t, srv, http.MethodGet, rend, srv.Token, nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "private, no-store" {
				t.Errorf("admin after unpublish: %d %q, want 200 private, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
		})
	}
}

// TestServeRenditionCacheFollowsChanges serves renditions with the serve cache on for an hour, so
// every request after the first finds the image's row — and what each rendition URL resolved to
// for it — cached, and checks that each change made between two requests is seen by the second:
// a focal point moved (the old fill URL redirects to the new one), the content unpublished (the
// rendition private again), the image moved to a collection its grantee may not see, and the
// image deleted.
func TestServeRenditionCacheFollowsChanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "media")
	cfg := media.DefaultConfig()
	cfg.ServeCacheTTL = time.Hour
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), ACL: storage.NewFileACL(dir), Media: &cfg})
	var colls struct {
		A, B struct{ ID string }
	}
	srv.GraphQL(`mutation { a: createCollection(input: {name: "A"}) { id } b: createCollection(input: {name: "B"}) { id } }`, nil).Decode(t, &colls)
	userID, groupID := azUserInGroup(t, srv, "viewer")
	azGrant(t, srv, groupID, "VIEW", colls.A.ID)
	viewer := azToken(t, srv, userID, nil)
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), map[string]any{"collectionId": colls.A.ID})
	ctx := auth.WithViewer(context.Background(), auth.System)
	contentID := publishInPage(t, srv, img.ID)
	width, fill := renditionOf(t, srv, img.ID, "width-400").URL, renditionOf(t, srv, img.ID, "fill-200x200").URL
	const public, private = "public, max-age=31536000, immutable", "private, no-store"
	// check asks twice: the first request after a change may load the row again, the second finds
	// it cached.
	check := func(when, u, token string, status int, cacheControl string) *http.Response {
		t.Helper()
		var resp *http.Response
		for i := range 2 {
			resp, _ = do(t, srv, http.MethodGet, u, token, nil)
			if resp.StatusCode != status || cacheControl != "" && resp.Header.Get("Cache-Control") != cacheControl {
				t.Errorf("%s, request %d: GET %s: %d (%s), want %d (%s)", when, i+1, u, resp.StatusCode, resp.Header.Get("Cache-Control"), status, cacheControl)
			}
		}
		return resp
	}
	check("published", width, "", http.StatusOK, public)
	check("published", width, viewer, http.StatusOK, public)
	check("published", fill, viewer, http.StatusOK, public)

	if _, err := srv.Media.UpdateImage(ctx, media.UpdateImageInput{ID: img.ID, FocalPoint: media.Some(&media.FocalPoint{X: 10, Y: 10, Width: 50, Height: 50})}); err != nil {
		t.Fatal(err)
	}
	moved := renditionOf(t, srv, img.ID, "fill-200x200").URL
	if moved == fill {
		t.Fatalf("fill URL unchanged by the focal point: %s", fill)
	}
	if resp := check("focal point moved", fill, viewer, http.StatusFound, ""); !strings.HasSuffix(resp.Header.Get("Location"), moved) {
		t.Errorf("focal point moved: old fill URL redirects to %q, want %s", resp.Header.Get("Location"), moved)
	}
	check("focal point moved", moved, viewer, http.StatusOK, public)

	if _, err := srv.Media.UnpublishContent(ctx, contentID); err != nil {
		t.Fatal(err)
	}
	check("unpublished", width, "", http.StatusForbidden, "")
	check("unpublished", width, viewer, http.StatusOK, private)
	check("unpublished", moved, viewer, http.StatusOK, private)

	if _, err := srv.Media.UpdateImage(ctx, media.UpdateImageInput{ID: img.ID, CollectionID: media.Some(colls.B.ID)}); err != nil {
		t.Fatal(err)
	}
	check("moved to B", width, viewer, http.StatusForbidden, "")
	check("moved to B", width, srv.Token, http.StatusOK, private)

	if err := srv.Media.DeleteImage(ctx, img.ID, false); err != nil {
		t.Fatal(err)
	}
	check("deleted", width, srv.Token, http.StatusNotFound, "")
	check("deleted", moved, srv.Token, http.StatusNotFound, "")
}

// publishInPage publishes a page whose hero is image id, as the system, and returns the page's id.
func publishInPage(t *testing.T, srv *veiltest.Server, id string) string {
	t.Helper()
	ctx := auth.WithViewer(context.Background(), auth.System)
	c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "p", References: []media.ReferenceInput{{MediaID: id, Field: "hero"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Media.PublishContent(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	return c.ID
}
