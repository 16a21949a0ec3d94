package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/veil-media/veil/server/negotiate"
)

// compressMinBytes is the smallest response worth compressing: below it the coding's framing and
// a round of CPU cost more than they save.
const compressMinBytes = 1400

// compressMaxBytes is the largest stored file compressed on the way out: a text document of
// hundreds of MiB would cost seconds of a core per request (an anonymous one, if it is public),
// so larger ones go as they are, by sendfile, with Range.
const compressMaxBytes = 8 << 20

// Compression levels of answers compressed as they are sent (GraphQL answers, text media): fast
// levels, so that compression costs a small, bounded share of a core per response. Brotli 4
// compresses JSON and text better than gzip 6 at a similar speed.
const (
	brotliLevel = 4
	gzipLevel   = gzip.DefaultCompression
)

// encoder is what gzip.Writer and brotli.Writer share.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

var encoders = map[string]*sync.Pool{
	"gzip": {New: func() any { w, _ := gzip.NewWriterLevel(nil, gzipLevel); return w }},
	"br":   {New: func() any { return brotli.NewWriterLevel(nil, brotliLevel) }},
}

// withGraphQLHeaders compresses GraphQL answers (br or gzip, negotiated, once they pass
// compressMinBytes), and marks them uncacheable by shared caches: an answer depends on the token,
// so `Cache-Control: private, no-store` on GET and HEAD (POST is never cached) and `Vary:
// Authorization, Accept-Encoding` on all. Websocket upgrades and SSE streams pass through
// untouched.
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
		enc := negotiate.Encoding(r.Header.Get("Accept-Encoding"))
		if enc == "" || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		cw := &compressResponse{ResponseWriter: w, encoding: enc}
		defer cw.finish()
		next.ServeHTTP(cw, r)
	})
}

func isStreaming(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// compressResponse holds back the first compressMinBytes of a response; a larger one is
// compressed with encoding ("br" or "gzip"; Content-Length dropped), a smaller one goes out as it
// is. A handler that sets its own Content-Encoding, or answers 204, 206 or 304, is passed through.
type compressResponse struct {
	http.ResponseWriter
	encoding string
	status   int
	buf      bytes.Buffer
	zw       encoder
	passed   bool // not compressed: written straight through
}

func (c *compressResponse) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
	if status == http.StatusNotModified || status == http.StatusNoContent || status == http.StatusPartialContent {
		c.pass()
	}
}

func (c *compressResponse) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	switch {
	case c.zw != nil:
		return c.zw.Write(p)
	case c.passed:
		return c.ResponseWriter.Write(p)
	}
	if c.buf.Len()+len(p) < compressMinBytes {
		return c.buf.Write(p)
	}
	h := c.ResponseWriter.Header()
	if h.Get("Content-Encoding") != "" {
		c.pass()
		return c.ResponseWriter.Write(p)
	}
	h.Del("Content-Length")
	h.Set("Content-Encoding", c.encoding)
	c.ResponseWriter.WriteHeader(c.status)
	c.zw = encoders[c.encoding].Get().(encoder)
	c.zw.Reset(c.ResponseWriter)
	if c.buf.Len() > 0 {
		if _, err := c.zw.Write(c.buf.Bytes()); err != nil {
			return 0, err
		}
		c.buf.Reset()
	}
	return c.zw.Write(p)
}

// pass sends the status and whatever was held back, uncompressed, and everything after it too.
func (c *compressResponse) pass() {
	if c.passed || c.zw != nil {
		return
	}
	c.passed = true
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.ResponseWriter.WriteHeader(c.status)
	if c.buf.Len() > 0 {
		_, _ = c.ResponseWriter.Write(c.buf.Bytes())
		c.buf.Reset()
	}
}

func (c *compressResponse) finish() {
	switch {
	case c.zw != nil:
		_ = c.zw.Close()
		c.zw.Reset(nil)
		encoders[c.encoding].Put(c.zw)
		c.zw = nil
	case c.status != 0:
		c.pass()
	}
}

// Flush sends what is compressed so far (used by streaming handlers that are not SSE).
func (c *compressResponse) Flush() {
	if c.zw != nil {
		_ = c.zw.Flush()
	} else if c.status != 0 {
		c.pass()
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets a handler take the connection (never after writing).
func (c *compressResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(c.ResponseWriter).Hijack()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (c *compressResponse) Unwrap() http.ResponseWriter { return c.ResponseWriter }
