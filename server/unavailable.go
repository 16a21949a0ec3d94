package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
)

// retryAfter is how long a client is told to wait (Retry-After, in seconds) after the storage or
// the database failed.
const retryAfter = 5

// unavailableHint is what the GraphQL execution of one request learnt for its HTTP answer: an
// error said the storage or the database is unavailable (Retry-After), and the answer carries no
// data beyond such errors (503).
type unavailableHint struct {
	retry, refuse atomic.Bool
}

type unavailableHintKey struct{}

// unavailableStatus turns a GraphQL answer whose errors say the storage or the database is
// unavailable into the HTTP answer a client or proxy retries: Retry-After on any such answer, and
// status 503 when there is no data besides those errors (a mutation that stored nothing). A
// partial answer keeps 200: part of it is good.
type unavailableStatus struct{}

var _ interface {
	graphql.ResponseInterceptor
	graphql.HandlerExtension
} = unavailableStatus{}

func (unavailableStatus) ExtensionName() string                   { return "VeilUnavailableStatus" }
func (unavailableStatus) Validate(graphql.ExecutableSchema) error { return nil }

func (unavailableStatus) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	h, _ := ctx.Value(unavailableHintKey{}).(*unavailableHint)
	if resp == nil || h == nil || len(resp.Errors) == 0 {
		return resp
	}
	all := true
	for _, e := range resp.Errors {
		switch e.Extensions["code"] {
		case CodeStorageUnavailable, CodeDatabaseUnavailable:
			h.retry.Store(true)
		default:
			all = false
		}
	}
	if all && h.retry.Load() && isNullData(resp.Data) {
		h.refuse.Store(true)
	}
	return resp
}

// isNullData reports data that holds nothing: null, or an object whose every field is null (each
// root field failed).
func isNullData(data []byte) bool {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return true
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(d, &fields) != nil {
		return false
	}
	for _, v := range fields {
		if !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return false
		}
	}
	return true
}

// withUnavailableHint gives a one-shot GraphQL request (not a stream) a hint that the answer's
// status and Retry-After follow.
func withUnavailableHint(ctx context.Context, w http.ResponseWriter) (http.ResponseWriter, context.Context) {
	h := &unavailableHint{}
	return &hintedResponse{ResponseWriter: w, hint: h}, context.WithValue(ctx, unavailableHintKey{}, h)
}

type hintedResponse struct {
	http.ResponseWriter
	hint    *unavailableHint
	written bool
}

func (h *hintedResponse) apply(status int) int {
	if h.written {
		return status
	}
	h.written = true
	if h.hint.retry.Load() {
		h.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if h.hint.refuse.Load() && status == http.StatusOK {
		return http.StatusServiceUnavailable
	}
	return status
}

func (h *hintedResponse) WriteHeader(status int) { h.ResponseWriter.WriteHeader(h.apply(status)) }

func (h *hintedResponse) Write(p []byte) (int, error) {
	if !h.written {
		if status := h.apply(http.StatusOK); status != http.StatusOK {
			h.ResponseWriter.WriteHeader(status)
		}
	}
	return h.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (h *hintedResponse) Unwrap() http.ResponseWriter { return h.ResponseWriter }
