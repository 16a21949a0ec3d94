// Package static serves a page and its assets embedded in the binary: each file compressed once
// (brotli and gzip) on first use, each coding its own representation with its own ETag, and the
// page itself under its Content-Security-Policy. GraphiQL and the media library page use it.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/veil-media/veil/server/negotiate"
)

// brotliLevel is the level the assets are compressed at, once per process: GraphiQL's 1 MB script
// takes about 0.3 s of a core at 6 and 10 s at 11, for 10% fewer bytes than 6 gives (still 10%
// fewer than gzip -9).
const brotliLevel = 6

// Site describes the files of one page.
type Site struct {
	// Files holds the assets; Root is their folder in it.
	Files fs.FS
	Root  string
	// Route gives the URL path a file (its path below Root) is served at; ok=false skips it.
	Route func(rel string) (urlPath string, ok bool)
	// Page is the URL path of the HTML page: it alone gets CSP and the framing and referrer
	// headers.
	Page, CSP string
	// Immutable reports whether a file (by path below Root) is versioned, and so cached for a
	// year; the others revalidate by ETag on every use.
	Immutable func(rel string) bool
}

type file struct {
	body, gz, br []byte
	etag, ctype  string
	immutable    bool
}

// Handler serves GET and HEAD of the site's files; other paths are 404, other methods 405.
func (s Site) Handler() http.Handler {
	var (
		once  sync.Once
		files map[string]*file // by URL path
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { files = s.load() })
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.serve(w, r, f)
	})
}

func (s Site) load() map[string]*file {
	files := map[string]*file{}
	_ = fs.WalkDir(s.Files, s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, s.Root+"/")
		at, ok := s.Route(rel)
		if !ok {
			return nil
		}
		body, err := fs.ReadFile(s.Files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
			ctype: mime.TypeByExtension(path.Ext(p)), immutable: s.Immutable != nil && s.Immutable(rel)}
		if path.Ext(p) == ".ico" {
			f.ctype = "image/x-icon" // already compressed
		} else {
			f.gz, f.br = compress(body)
		}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		files[at] = f
		return nil
	})
	return files
}

func compress(body []byte) (gz, br []byte) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	gz = bytes.Clone(buf.Bytes())
	buf.Reset()
	bw := brotli.NewWriterLevel(&buf, brotliLevel)
	_, _ = bw.Write(body)
	_ = bw.Close()
	return gz, buf.Bytes()
}

func (s Site) serve(w http.ResponseWriter, r *http.Request, f *file) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if f.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.URL.Path == s.Page {
		h.Set("Content-Security-Policy", s.CSP)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
	}
	body, etag := f.body, f.etag
	if f.gz != nil {
		// Each coding is its own representation, with its own ETag.
		switch enc := negotiate.Encoding(r.Header.Get("Accept-Encoding")); enc {
		case "br", "gzip":
			h.Set("Content-Encoding", enc)
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+"-"+enc+`"`
			if enc == "br" {
				body = f.br
			}
		}
	}
	h.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
