package server

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// TestResponseLimitStopsResolving: once the estimated bytes of a response pass the limit, the
// fields still to resolve fail without running their resolvers, and the response is one
// RESPONSE_TOO_LARGE error — the work of an oversized answer stops near the limit instead of
// running to the end and being measured afterwards.
func TestResponseLimitStopsResolving(t *testing.T) {
	r := responseLimit{max: 10_000}
	value := strings.Repeat("x", 1000)
	ran := 0
	resp := r.InterceptResponse(context.Background(), func(ctx context.Context) *graphql.Response {
		for range 1000 { // a response of about 1 MB
			_, _ = r.InterceptField(ctx, func(context.Context) (any, error) {
				ran++
				return value, nil
			})
		}
		return &graphql.Response{Data: []byte(`{}`)}
	})
	if ran > 11 {
		t.Errorf("%d resolvers ran; the limit is passed after 10", ran)
	}
	if resp == nil || len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != CodeResponseTooLarge || resp.Data != nil {
		t.Fatalf("response %+v", resp)
	}
	// Under the limit, nothing changes.
	ok := r.InterceptResponse(context.Background(), func(ctx context.Context) *graphql.Response {
		_, _ = r.InterceptField(ctx, func(context.Context) (any, error) { return value, nil })
		return &graphql.Response{Data: []byte(`{"a":"` + value + `"}`)}
	})
	if len(ok.Errors) != 0 || len(ok.Data) < 1000 {
		t.Errorf("small response changed: %+v", ok)
	}
}
