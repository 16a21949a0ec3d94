package server

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/veil-media/veil/media"
)

// seekCounter is a body that counts the seeks made on it.
type seekCounter struct {
	*bytes.Reader
	seeks int
}

func (s *seekCounter) Seek(offset int64, whence int) (int64, error) {
	s.seeks++
	return s.Reader.Seek(offset, whence)
}

func (s *seekCounter) Close() error { return nil }

// TestServeObjectSeeksOnlyForRanges: the size of a served object comes from its open
// (media.Object.Size), so a whole GET or a HEAD never seeks its body (on a folder bucket, two
// lseek system calls per request before), and a range seeks once, to its start.
func TestServeObjectSeeksOnlyForRanges(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	for _, c := range []struct {
		method, rangeHeader string
		want                []byte
		seeks               int
	}{
		{http.MethodGet, "", data, 0},
		{http.MethodHead, "", nil, 0},
		{http.MethodGet, "bytes=0-9", data[:10], 0},
		{http.MethodGet, "bytes=500-519", data[500:520], 1},
		{http.MethodGet, "bytes=-3", data[len(data)-3:], 1},
	} {
		body := &seekCounter{Reader: bytes.NewReader(data)}
		obj := &media.Object{Body: body, ContentType: "image/jpeg", Size: int64(len(data)), SHA256: "abc", ModTime: time.Unix(1e9, 0)}
		req := httptest.NewRequest(c.method, "/media/renditions/x/y/z.jpg", nil)
		if c.rangeHeader != "" {
			req.Header.Set("Range", c.rangeHeader)
		}
		rec := httptest.NewRecorder()
		(&Server{}).serveObject(rec, req, obj, "inline")
		got, _ := io.ReadAll(rec.Body)
		if !bytes.Equal(got, c.want) || body.seeks != c.seeks {
			t.Errorf("%s Range %q: %d, %d bytes, %d seeks; want %d bytes, %d seeks", c.method, c.rangeHeader, rec.Code, len(got), body.seeks, len(c.want), c.seeks)
		}
	}
}

// TestContentDispositionTokenNames: a name that is a plain token is written as
// mime.FormatMediaType writes it, and other names still go through it (quoted, or with filename*).
func TestContentDispositionTokenNames(t *testing.T) {
	for _, name := range []string{"Garden.jpg", "a", "report-2026_v2.pdf", "x~y!z#$&+^`|'*%.png",
		"two words.pdf", `quote".jpg`, "semi;colon.jpg", "Spécification.pdf", "tab\there.jpg", "a=b.png", "(1).jpg", "日本.png"} {
		for _, d := range []string{"inline", "attachment"} {
			got := contentDisposition(d, name)
			if isToken(name) {
				if want := mime.FormatMediaType(d, map[string]string{"filename": name}); got != want {
					t.Errorf("%s %q: %q, want %q", d, name, got, want)
				}
			}
			if _, params, err := mime.ParseMediaType(got); err != nil || params["filename"] != name {
				t.Errorf("%s %q: %q parses as %q (%v)", d, name, got, params["filename"], err)
			}
		}
	}
}

// TestRenditionRouteMatchesMux checks renditionRoute against the mux it stands in for: every
// request it routes, the mux routes to the rendition pattern with the same wildcard values (no
// redirect), and the usual rendition URLs are among them; the others are left to the mux.
func TestRenditionRouteMatchesMux(t *testing.T) {
	var got media.RenditionRequest
	var routed bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+renditionsPrefix+"{id}/{token}/{segment}", func(w http.ResponseWriter, r *http.Request) {
		routed, got = true, media.RenditionRequest{ID: r.PathValue("id"), Token: r.PathValue("token"), Segment: r.PathValue("segment")}
	})
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	for _, c := range []struct {
		method, target string
		fast           bool // renditionRoute routes it
	}{
		{"GET", "/media/renditions/img_1/sig-_0/width-400.jpg", true},
		{"HEAD", "/media/renditions/img_1/sig/width-400.jpg", true},
		{"GET", "/media/renditions/img_1/preset/thumb.webp?x=1", true},
		{"GET", "/media/renditions/img_1/sig/fill-200x200@1.2.3.4.jpg", true},
		{"GET", "/media/renditions/img_1/sig/width-400%7Cformat-webp.webp", true},
		{"GET", "/media/renditions/img_1/sig/a%20b.jpg", true},
		{"GET", "/media/renditions/img_1/sig/100%25.jpg", true},
		{"GET", "/media/renditions/img_1/sig/.jpg", true},
		{"GET", "/media/renditions/img_1/sig/a%2Fb.jpg", false},
		{"GET", "/media/renditions/img_1/sig/width-400.jpg/", false},
		{"GET", "/media/renditions/img_1/sig/x/width-400.jpg", false},
		{"GET", "/media/renditions/img_1/sig", false},
		{"GET", "/media/renditions/img_1//width-400.jpg", false},
		{"GET", "/media/renditions//sig/width-400.jpg", false},
		{"GET", "/media/renditions/img_1/./width-400.jpg", false},
		{"GET", "/media/renditions/img_1/../sig/width-400.jpg", false},
		{"GET", "/media/renditions/img_1/sig/..", false},
		{"GET", "/media/renditions/img_1/sig/%2E%2E", false},
		{"GET", "/media//renditions/img_1/sig/width-400.jpg", false},
		{"GET", "/media/renditions/", false},
		{"POST", "/media/renditions/img_1/sig/width-400.jpg", false},
		{"PUT", "/media/renditions/img_1/sig/width-400.jpg", false},
		{"OPTIONS", "/media/renditions/img_1/sig/width-400.jpg", false},
		{"GET", "/media/originals/img_1/a.jpg", false},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		fast, ok := renditionRoute(r)
		if ok != c.fast {
			t.Errorf("%s %s: renditionRoute routes it: %v, want %v", c.method, c.target, ok, c.fast)
		}
		if !ok {
			continue
		}
		routed, got = false, media.RenditionRequest{}
		mux.ServeHTTP(httptest.NewRecorder(), r)
		if !routed || got != fast {
			t.Errorf("%s %s: renditionRoute %+v; the mux: routed %v, %+v", c.method, c.target, fast, routed, got)
		}
	}
}

// TestCompressibleWithoutParameters: compressible reads a type without parameters itself, and
// answers as it does through mime.ParseMediaType (invalid types included).
func TestCompressibleWithoutParameters(t *testing.T) {
	viaParse := func(ct string) bool {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return false
		}
		return compressible(mt + "; x=y") // the same type, read through ParseMediaType
	}
	for _, c := range []struct {
		ct   string
		want bool
	}{
		{"image/jpeg", false}, {"image/webp", false}, {"application/pdf", false},
		{"image/svg+xml", true}, {"text/plain", true}, {"Text/HTML", true}, {" text/css ", true},
		{"application/json", true}, {"application/ld+json", true}, {"application/geo+json", true},
		{"text/plain; charset=utf-8", true}, {"image/png; q=1", false},
		{"text", false}, {"text/", false}, {"/plain", false}, {"", false}, {"text/pl ain", false},
		{"text/plain/x", false}, {"tex(t/plain", false}, {"text/plain;", true}, {"text/plain; =", false},
	} {
		if got := compressible(c.ct); got != c.want || got != viaParse(c.ct) {
			t.Errorf("compressible(%q) = %v, want %v (through ParseMediaType: %v)", c.ct, got, c.want, viaParse(c.ct))
		}
	}
}
