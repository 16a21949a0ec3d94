// Package graphiql serves Veil's GraphiQL page at / with every asset it needs embedded in the
// binary (GraphiQL 4.1.2, React 18.2.0, their licences beside them in assets/vendor), so the page
// works offline and under a Content-Security-Policy that allows nothing but this server.
package graphiql

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

	"github.com/andybalholm/brotli"

	"github.com/veil-media/veil/server/negotiate"
)

//go:embed assets
var assets embed.FS

// CSP is the page's Content-Security-Policy: scripts, styles, images, fonts and connections
// (HTTP and the subscription websocket) only from this server; GraphiQL's own styles set inline.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves GET/HEAD of "/" (the page), "/favicon.ico" and "/graphiql/…" (its assets).
// Versioned vendor files are cached for a year; the page and Veil's own script revalidate by ETag.
// Every text response is compressed for clients that accept it: brotli or gzip, each compressed
// once, on first use.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

// brotliLevel is the level the assets are compressed at, once per process: GraphiQL's 1 MB script
// takes about 0.3 s of a core at 6 and 10 s at 11, for 10% fewer bytes than 6 gives (still 10%
// fewer than gzip -9).
const brotliLevel = 6

type file struct {
	body, gz, br []byte
	etag, ctype  string
	immutable    bool
}

var (
	filesOnce sync.Once
	files     map[string]*file // by URL path
)

func load() {
	files = map[string]*file{}
	_ = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".sh") {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
			ctype: mime.TypeByExtension(path.Ext(p)), immutable: strings.HasPrefix(p, "assets/vendor/")}
		if strings.HasSuffix(p, ".ico") {
			f.ctype = "image/x-icon"
		}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		if !strings.HasSuffix(p, ".ico") {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
			f.gz = buf.Bytes()
			buf = bytes.Buffer{}
			bw := brotli.NewWriterLevel(&buf, brotliLevel)
			_, _ = bw.Write(body)
			_ = bw.Close()
			f.br = buf.Bytes()
		}
		rel := strings.TrimPrefix(p, "assets/")
		switch rel {
		case "index.html":
			files["/"] = f
		case "favicon.ico":
			files["/favicon.ico"] = f
		default:
			files["/graphiql/"+rel] = f
		}
		return nil
	})
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
	h.Set("Vary", "Accept-Encoding")
	if f.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.URL.Path == "/" {
		h.Set("Content-Security-Policy", CSP)
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
