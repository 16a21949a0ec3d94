// Package library serves Veil's media library page at /library/: plain ES modules and one style
// sheet embedded in the binary, no build step and no third-party code, so `go run ./cmd/veil
// serve` serves it from a fresh clone and it works offline. The page holds no data: it asks the
// GraphQL API for everything with the token the user pastes (kept in sessionStorage, sent as a
// Bearer header, never a cookie), so it is served to anyone.
package library

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/veil-media/veil/server/negotiate"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the page is served under.
const Prefix = "/library/"

// CSP is the page's Content-Security-Policy: scripts, styles and connections (HTTP and the
// subscription websocket) only from this server, no inline script or style attribute. Images
// are 'self' and blob:, because private renditions are fetched with the Bearer header and shown
// from blob: URLs (an <img> cannot send a header).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"connect-src 'self'; manifest-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	body, gz    []byte
	etag, ctype string
}

var (
	filesOnce sync.Once
	files     map[string]*file // by URL path
)

func load() {
	files = map[string]*file{}
	_ = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
			ctype: mime.TypeByExtension(path.Ext(p))}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		f.gz = buf.Bytes()
		rel := strings.TrimPrefix(p, "assets/")
		if rel == "index.html" {
			rel = ""
		}
		files[Prefix+rel] = f
		return nil
	})
}

// Handler serves GET/HEAD of /library/ (the page) and /library/… (its modules and style sheet).
// Everything revalidates by ETag (no-cache), so a new binary's page is picked up at once, and is
// gzip-compressed for clients that accept it.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	filesOnce.Do(load)
	f, ok := files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", f.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("Cache-Control", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == Prefix {
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if negotiate.Gzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
