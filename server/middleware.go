package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

type requestIDKey struct{}

// RequestID returns the id of the request in ctx ("" outside a request).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequest answers every request through a statusRecorder that carries its id (see
// requestIDFor), echoed in X-Request-ID; recovers a panic into a 500 that names the id; and logs
// one line per request (see logAccess). The id reaches the request's context with its viewer, in
// withAuth: one context and one copy of the request for both.
func (s *Server) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		rec.id[0] = requestIDFor(r.Header.Get("X-Request-ID"))
		w.Header()["X-Request-Id"] = rec.id[:] // the recorder's own array: no slice per request
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic", "request_id", rec.id[0], "panic", p)
				http.Error(w, "internal error (request id "+rec.id[0]+")", http.StatusInternalServerError)
			}
		}()
		start := time.Now()
		next.ServeHTTP(rec, r)
		s.logAccess(r, rec, start)
	})
}

// requestIDFor is a request's id: the client's X-Request-ID when it is short and plain
// ([A-Za-z0-9._-], at most 64 bytes), else 16 random hex digits.
func requestIDFor(client string) string {
	if plainRequestID(client) {
		return client
	}
	const digits = "0123456789abcdef"
	var b [16]byte
	v := rand.Uint64() // the runtime's per-thread ChaCha8, seeded from the system's randomness
	for i := range b {
		b[i] = digits[v>>60]
		v <<= 4
	}
	return string(b[:])
}

func plainRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// requestIDOf returns the id withRequest gave the request answered through w.
func requestIDOf(w http.ResponseWriter) string {
	if rec, ok := w.(*statusRecorder); ok {
		return rec.id[0]
	}
	return ""
}

// withRequestIDValue returns ctx carrying the request id id (see RequestID).
func withRequestIDValue(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	id     [1]string // the request id, and the X-Request-ID header's value
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for files (http.ServeContent copies with io.Copy).
func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := io.Copy(s.ResponseWriter, r) // *http.response implements io.ReaderFrom
	s.bytes += n
	return n, err
}

// Hijack lets websocket upgrades take over the connection.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: connection cannot be hijacked")
	}
	s.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Flush lets streaming responses (server-sent events) reach the client at once.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logAccess logs one line for a request: method, path (never the query string, which may carry
// signatures or tokens), status, bytes and duration. Nothing is built when the level is off.
func (s *Server) logAccess(r *http.Request, rec *statusRecorder, start time.Time) {
	level := levelFor(rec.status)
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.LogAttrs(r.Context(), level, "http request",
		slog.String("request_id", rec.id[0]), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", time.Since(start)))
}

func writeGraphQLError(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": fmt.Sprintf(format, args...), "extensions": map[string]any{"code": code},
	}}})
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
