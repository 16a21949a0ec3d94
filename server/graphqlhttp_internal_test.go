package server

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestWriteResponseAsMarshal: writeResponse writes the bytes json.Marshal writes, whether it takes
// the short path (data alone) or not.
func TestWriteResponseAsMarshal(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name string
		resp *graphql.Response
	}{
		{"data", &graphql.Response{Data: json.RawMessage(`{"images":{"nodes":[{"id":"img_1","title":"a \"b\" é"}]}}`)}},
		{"html", &graphql.Response{Data: json.RawMessage(`{"title":"<script>&amp;</script>"}`)}},
		{"line separator", &graphql.Response{Data: json.RawMessage("{\"title\":\"a\u2028b\u2029c\"}")}},
		{"null data", &graphql.Response{Data: json.RawMessage(`null`)}},
		{"no data", &graphql.Response{}},
		{"errors", &graphql.Response{Data: json.RawMessage(`{"a":1}`), Errors: gqlerror.List{{Message: "x"}}}},
		{"extensions", &graphql.Response{Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"k": 1}}},
		{"incremental", &graphql.Response{Data: json.RawMessage(`{"a":1}`), Label: "l", HasNext: &yes}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			writeResponse(rec, tc.resp)
			if got := rec.Body.String(); got != string(want) {
				t.Errorf("wrote %s, json.Marshal %s", got, want)
			}
		})
	}
}
