package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"net"
	"net/http"
	"strings"

	"github.com/veil-media/veil/server/negotiate"
	"sync"
)

// gzipMinBytes is the smallest response worth compressing: below it gzip's header and a round of
// CPU cost more than they save.
const gzipMinBytes = 1400

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// withGraphQLHeaders compresses GraphQL answers for clients that accept gzip (once they pass
// gzipMinBytes), and marks them uncacheable by shared caches: an answer depends on the token, so
// `Cache-Control: private, no-store` on GET (POST is never cached) and `Vary: Authorization,
// Accept-Encoding` on both. Websocket upgrades and SSE streams pass through untouched.
func withGraphQLHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			w.Header().Set("Cache-Control", "private, no-store")
		}
		w.Header().Add("Vary", "Authorization")
		if isStreaming(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Accept-Encoding")
		if !negotiate.Gzip(r.Header.Get("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		gw := &gzipResponse{ResponseWriter: w}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

func isStreaming(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// gzipResponse holds back the first gzipMinBytes of a response; a larger one is compressed
// (Content-Length dropped), a smaller one goes out as it is.
type gzipResponse struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	zw     *gzip.Writer
	passed bool // not compressed: written straight through
}

func (g *gzipResponse) WriteHeader(status int) {
	if g.status == 0 {
		g.status = status
	}
}

func (g *gzipResponse) Write(p []byte) (int, error) {
	if g.status == 0 {
		g.status = http.StatusOK
	}
	switch {
	case g.zw != nil:
		return g.zw.Write(p)
	case g.passed:
		return g.ResponseWriter.Write(p)
	}
	if g.buf.Len()+len(p) < gzipMinBytes {
		return g.buf.Write(p)
	}
	h := g.ResponseWriter.Header()
	if h.Get("Content-Encoding") != "" || g.status == http.StatusNoContent || g.status == http.StatusNotModified {
		g.passed = true
		g.flushBuffered()
		return g.ResponseWriter.Write(p)
	}
	h.Del("Content-Length")
	h.Set("Content-Encoding", "gzip")
	g.ResponseWriter.WriteHeader(g.status)
	g.zw = gzipWriters.Get().(*gzip.Writer)
	g.zw.Reset(g.ResponseWriter)
	if g.buf.Len() > 0 {
		if _, err := g.zw.Write(g.buf.Bytes()); err != nil {
			return 0, err
		}
		g.buf.Reset()
	}
	return g.zw.Write(p)
}

// flushBuffered sends the status and whatever was held back, uncompressed.
func (g *gzipResponse) flushBuffered() {
	if g.status == 0 {
		g.status = http.StatusOK
	}
	g.ResponseWriter.WriteHeader(g.status)
	if g.buf.Len() > 0 {
		_, _ = g.ResponseWriter.Write(g.buf.Bytes())
		g.buf.Reset()
	}
}

func (g *gzipResponse) finish() {
	switch {
	case g.zw != nil:
		_ = g.zw.Close()
		g.zw.Reset(nil)
		gzipWriters.Put(g.zw)
		g.zw = nil
	case !g.passed && g.status != 0:
		g.passed = true
		g.flushBuffered()
	}
}

// Flush sends what is compressed so far (used by streaming handlers that are not SSE).
func (g *gzipResponse) Flush() {
	if g.zw != nil {
		_ = g.zw.Flush()
	} else if !g.passed && g.status != 0 {
		g.passed = true
		g.flushBuffered()
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets a handler take the connection (never after writing).
func (g *gzipResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(g.ResponseWriter).Hijack()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (g *gzipResponse) Unwrap() http.ResponseWriter { return g.ResponseWriter }
