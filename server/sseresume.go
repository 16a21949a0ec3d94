package server

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/graph"
)

// Server-sent events resume: every "next" message carries its event's cursor as the SSE id, so
// an EventSource-style client that reconnects sends it back as Last-Event-ID, which the
// subscription treats as its after argument (when the query names none).

// sseResume is the extension that tells the SSE writer the cursor of each response.
type sseResume struct{}

var _ interface {
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
	graphql.HandlerExtension
} = sseResume{}

func (sseResume) ExtensionName() string                   { return "VeilSSEResume" }
func (sseResume) Validate(graphql.ExecutableSchema) error { return nil }

func (sseResume) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if sseIDFrom(ctx) != nil && graphql.HasOperationContext(ctx) && isSubscription(graphql.GetOperationContext(ctx)) {
		ctx = graph.WithCursors(ctx)
	}
	return next(ctx)
}

func (sseResume) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if id := sseIDFrom(ctx); id != nil && resp != nil && resp.Data != nil {
		id.set(graph.NextCursor(ctx))
	}
	return resp
}

type sseIDKey struct{}

// sseID is the id of the next "next" message written to one SSE response.
type sseID struct {
	mu sync.Mutex
	id string
}

func (s *sseID) set(id string) { s.mu.Lock(); s.id = id; s.mu.Unlock() }

func (s *sseID) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id
	s.id = ""
	return id
}

func sseIDFrom(ctx context.Context) *sseID {
	id, _ := ctx.Value(sseIDKey{}).(*sseID)
	return id
}

// withSSEResume prepares an SSE request: its Last-Event-ID becomes the resume cursor and its
// writer adds "id: <cursor>" to each "next" message.
func withSSEResume(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	id := &sseID{}
	ctx := context.WithValue(r.Context(), sseIDKey{}, id)
	if last := strings.TrimSpace(r.Header.Get("Last-Event-ID")); last != "" {
		ctx = events.WithResume(ctx, last)
	}
	return &sseIDWriter{ResponseWriter: w, id: id}, r.WithContext(ctx)
}

// sseIDWriter writes the pending id before a "next" message. The SSE transport writes each
// message in one Write, under its connection lock, right after the response interceptors ran.
type sseIDWriter struct {
	http.ResponseWriter
	id *sseID
}

var nextPrefix = []byte("event: next\n")

func (w *sseIDWriter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, nextPrefix) {
		if id := w.id.take(); id != "" && id != "0" {
			if _, err := w.ResponseWriter.Write([]byte("id: " + id + "\n")); err != nil {
				return 0, err
			}
		}
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets the SSE transport flush through the wrapper.
func (w *sseIDWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *sseIDWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
