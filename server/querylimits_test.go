package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// answerWithin is how long a refused document may take to be answered in tests: generous, so the
// test fails fast (instead of hanging) on a server that expands fragments, without timing it. The
// < 50 ms target is measured by BenchmarkFragmentFanOut.
const answerWithin = 5 * time.Second

// fanOut is the document of issue 14 item 4: each fragment spreads the next one twice, so
// expanding the spreads visits 2^n fragments.
func fanOut(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range n {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { __typename }\n", n)
	return b.String()
}

// abandoning serves every plain HTTP request through a recorder in a goroutine and stops waiting
// when the client gives up: a handler that never returns (an unbounded computation, as on
// f7a2da4) then cannot block the test server's Close. Websockets pass through (hijacked
// connections do not block Close).
func abandoning(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, r)
		}()
		select {
		case <-done:
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		case <-r.Context().Done():
		}
	})
}

// ask sends req anonymously and returns the status and body, failing the test when no answer
// comes within answerWithin.
func ask(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	client := &http.Client{Timeout: answerWithin}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer within %v: %v", req.Method, req.URL.Path, answerWithin, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer after %v: %v", time.Since(start), err)
	}
	return resp.StatusCode, body
}

// wantCode checks that body holds exactly one error with code and no data.
func wantCode(t *testing.T, body []byte, code string) veiltest.GQLError {
	t.Helper()
	var r struct {
		Data   json.RawMessage     `json:"data"`
		Errors []veiltest.GQLError `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("answer is not JSON: %v: %.300s", err, body)
	}
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != code || (len(r.Data) > 0 && string(r.Data) != "null") {
		t.Fatalf("want one %s error and no data, got %d bytes: %.600s", code, len(body), body)
	}
	return r.Errors[0]
}

func postJSON(t *testing.T, srv *veiltest.Server, payload map[string]any) *http.Request {
	t.Helper()
	body, _ := json.Marshal(payload)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestFragmentFanOut (issue 14 item 4): the exponential fragment document is refused, quickly and
// with QUERY_TOO_COMPLEX, by every transport and through persisted queries, anonymously (multipart
// with a token: anonymous uploads are refused before anything is read).
func TestFragmentFanOut(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Wrap: abandoning})
	query := fanOut(40)
	if len(query) > 2048 {
		t.Fatalf("the document is %d bytes; the issue's is 1.1 KB", len(query))
	}
	check := func(t *testing.T, body []byte) {
		t.Helper()
		e := wantCode(t, body, "QUERY_TOO_COMPLEX")
		if e.Extensions["setting"] != "VEIL_MAX_QUERY_FIELDS" {
			t.Errorf("refused by %v, want VEIL_MAX_QUERY_FIELDS: %s", e.Extensions["setting"], e.Message)
		}
	}

	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?query="+url.QueryEscape(query), nil)
		status, body := ask(t, req)
		if status != http.StatusOK { // a request error, 200 for application/json (GraphQL over HTTP)
			t.Errorf("status %d, want 200", status)
		}
		check(t, body)
	})
	t.Run("POST JSON", func(t *testing.T) {
		_, body := ask(t, postJSON(t, srv, map[string]any{"query": query}))
		check(t, body)
	})
	t.Run("multipart POST", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		ops, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{}})
		_ = mw.WriteField("operations", string(ops))
		_ = mw.WriteField("map", "{}")
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Apollo-Require-Preflight", "true")
		// Anonymous multipart requests are refused before their body is read (issue 14 item 6):
		// the document bound applies to those who may upload.
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		_, body := ask(t, req)
		check(t, body)
	})
	t.Run("SSE", func(t *testing.T) {
		req := postJSON(t, srv, map[string]any{"query": query})
		req.Header.Set("Accept", "text/event-stream")
		_, body := ask(t, req)
		// One "next" event carrying the error, then "complete".
		var data []byte
		for _, line := range strings.Split(string(body), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, "errors") {
				data = []byte(d)
			}
		}
		if data == nil {
			t.Fatalf("no error event in %q", body)
		}
		check(t, data)
	})
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run("websocket "+proto, func(t *testing.T) {
			ws := dialWS(t, srv, proto, "")
			if m, err := ws.next(answerWithin); err != nil || m["type"] != "connection_ack" {
				t.Fatalf("connection_init: %v %v", m, err)
			}
			typ := "subscribe"
			if proto == "graphql-ws" {
				typ = "start"
			}
			ws.send(map[string]any{"id": "1", "type": typ, "payload": map[string]any{"query": query}})
			m, err := ws.next(answerWithin)
			if err != nil {
				t.Fatalf("no answer within %v: %v", answerWithin, err)
			}
			if m["type"] != "error" {
				t.Fatalf("want an error message, got %v", m)
			}
			errs, _ := json.Marshal(m["payload"])
			check(t, []byte(`{"errors":`+string(errs)+`}`))
		})
	}
	t.Run("persisted query", func(t *testing.T) {
		sum := sha256.Sum256([]byte(query))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
		_, body := ask(t, postJSON(t, srv, map[string]any{"query": query, "extensions": ext}))
		check(t, body)
		// The refused document was not stored: its hash alone is unknown.
		_, body = ask(t, postJSON(t, srv, map[string]any{"extensions": ext}))
		wantCode(t, body, "PERSISTED_QUERY_NOT_FOUND")
	})
}

// TestFragmentFanOutVariants: other shapes that make parsing, validation or the complexity walk
// do too much work are refused before any of it, with a coded error naming the setting.
func TestFragmentFanOutVariants(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Wrap: abandoning})
	rep := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i))
			b.WriteByte(' ')
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, query, op string
		code, setting   string
	}{
		{"fan-out through introspection", "{ __schema { ...S0 } } " + rep(30, func(i int) string {
			return fmt.Sprintf("fragment S%d on __Schema { ...S%d ...S%d }", i, i+1, i+1)
		}) + "fragment S30 on __Schema { description }", "", "QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_FIELDS"},
		{"fan-out in an unused fragment", "{ __typename } fragment U on Query { ...F0 } " + strings.TrimPrefix(fanOut(30), "{ ...F0 }\n"), "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_FIELDS"},
		{"deep nesting", "{ collections " + strings.Repeat("{ parent ", 100) + "{ id }" + strings.Repeat(" }", 100) + " }", "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_DEPTH"},
		{"many distinct fragments", "{ " + rep(1000, func(i int) string { return fmt.Sprintf("...D%d", i) }) + "} " +
			rep(1000, func(i int) string { return fmt.Sprintf("fragment D%d on Query { __typename }", i) }), "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_FRAGMENTS"},
		{"wide fan-out of distinct fragments", "{ ...W } fragment W on Query { " + rep(40, func(i int) string { return fmt.Sprintf("...V%d", i) }) + "} " +
			rep(40, func(i int) string {
				return fmt.Sprintf("fragment V%d on Query { %s }", i, rep(40, func(j int) string { return fmt.Sprintf("v%d_%d: __typename", i, j) }))
			}), "", "QUERY_TOO_COMPLEX", "VEIL_MAX_ALIASES"},
		{"fragment cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...C } fragment C on Query { ...A }", "",
			"GRAPHQL_VALIDATION_FAILED", ""},
		{"huge alias list", "{ " + rep(1000, func(i int) string { return fmt.Sprintf("a%d: __typename", i) }) + "}", "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_ALIASES"},
		{"repeated identical fields", "{ " + rep(3000, func(int) string { return "__typename" }) + "}", "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_FIELDS"},
		{"deeply nested list value", `{ image(id: ` + strings.Repeat("[", 300) + `"x"` + strings.Repeat("]", 300) + `) { id } }`, "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_DEPTH"},
		{"deeply nested object value", `{ images(filter: ` + strings.Repeat("{a: ", 300) + "1" + strings.Repeat("}", 300) + `) { totalCount } }`, "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_DEPTH"},
		{"many operations", rep(500, func(i int) string { return fmt.Sprintf("query Q%d { __typename }", i) }), "Q0",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_OPERATIONS"},
		{"operations sharing a large fragment", rep(20, func(i int) string { return fmt.Sprintf("query Q%d { ...L }", i) }) +
			"fragment L on Query { " + rep(1900, func(i int) string { return fmt.Sprintf("t%d: __typename", i%150) }) + "}", "Q0",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_FIELDS"},
		{"repeated identical subtrees", "{ " + rep(600, func(int) string { return "images { nodes { id } }" }) + "}", "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_FIELDS"},
		{"repeated directives", "{ __typename " + rep(3000, func(int) string { return "@include(if: true)" }) + "}", "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_TOKENS"},
		{"too many tokens", "{ " + rep(12000, func(i int) string { return "__typename" }) + " }", "",
			"QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_TOKENS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := map[string]any{"query": tc.query}
			if tc.op != "" {
				payload["operationName"] = tc.op
			}
			_, body := ask(t, postJSON(t, srv, payload))
			e := wantCode(t, body, tc.code)
			if tc.setting != "" && e.Extensions["setting"] != tc.setting {
				t.Errorf("refused by %v (%s), want %s", e.Extensions["setting"], e.Message, tc.setting)
			}
		})
	}
}

// graphiQLIntrospection is the introspection query GraphiQL sends on load.
const graphiQLIntrospection = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// TestQueryLimitsAllowOrdinaryDocuments: what clients really send passes the new limits with the
// defaults: GraphiQL's introspection, a page of 50 images, fragments reused many times.
func TestQueryLimitsAllowOrdinaryDocuments(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	seedImages(t, srv, 3)
	for name, q := range map[string]string{
		"GraphiQL introspection": graphiQLIntrospection,
		"images first 50":        imagesFirst50,
		"reused fragments": `{ images(first: 50) { nodes { ...Img } edges { node { ...Img } } } }
			fragment Img on Image { ...Base thumb: rendition(spec: "fill-100x100") { ...R } large: rendition(spec: "width-1200") { ...R } srcset(specs: ["width-{400,800,1200}"]) }
			fragment Base on Media { id title url fileSize collection { id name } }
			fragment R on Rendition { url width height }`,
	} {
		t.Run(name, func(t *testing.T) {
			r := srv.GraphQL(q, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("refused: %s", r.Raw)
			}
		})
	}
}

// TestOutputAmplification (issue 14 item 11): small anonymous documents that asked for megabytes
// are refused with a coded error before they run: aliases are capped, a srcset costs its specs,
// introspection costs what it answers, and a response over VEIL_MAX_RESPONSE_BYTES is replaced by
// one RESPONSE_TOO_LARGE error instead of being sent.
func TestOutputAmplification(t *testing.T) {
	t.Parallel()
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
	publishOne(t, srv, img.ID)
	anon := srv.As("")
	widths := make([]string, 50)
	for i := range widths {
		widths[i] = fmt.Sprint(100 + 10*i)
	}
	spec := `"width-{` + strings.Join(widths, ",") + `}"`
	srcsets := func(n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, `{ image(id: %q) { `, img.ID)
		for i := range n {
			fmt.Fprintf(&b, "s%d: srcset(specs: [%s]) ", i, spec)
		}
		b.WriteString("} }")
		return b.String()
	}
	schemas := func(n int, sel string) string {
		var b strings.Builder
		b.WriteString("{ ")
		for i := range n {
			fmt.Fprintf(&b, "s%d: __schema { %s } ", i, sel)
		}
		b.WriteString("}")
		return b.String()
	}
	types := func(n int, sel string) string {
		var b strings.Builder
		b.WriteString("{ ")
		for i := range n {
			fmt.Fprintf(&b, "t%d: %s ", i, sel)
		}
		b.WriteString("}")
		return b.String()
	}
	// One srcset of 50 specs is fine, and anonymous: the amplification comes from repeating it.
	if r := anon.GraphQL(srcsets(1), nil); len(r.Errors) > 0 || len(r.Raw) < 50*40 {
		t.Fatalf("one srcset: %.500s", r.Raw)
	}
	for _, tc := range []struct {
		name, query, code, setting string
	}{
		{"1000 srcset aliases (the issue's 22 KB)", srcsets(1000), "QUERY_TOO_COMPLEX", "VEIL_MAX_QUERY_TOKENS"},
		{"150 srcset aliases", srcsets(150), "QUERY_TOO_COMPLEX", "VEIL_MAX_ALIASES"},
		{"99 srcset aliases of 50 specs", srcsets(99), "COMPLEXITY_LIMIT_EXCEEDED", "VEIL_MAX_COMPLEXITY"},
		{"300 __schema aliases", schemas(300, "types { name fields { name } }"), "QUERY_TOO_COMPLEX", "VEIL_MAX_ALIASES"},
		{"20 __schema aliases", schemas(20, "types { name fields { name args { name } } }"), "COMPLEXITY_LIMIT_EXCEEDED", "VEIL_MAX_COMPLEXITY"},
		{"99 __type aliases", types(99, `__type(name: "Mutation") { fields { name args { name type { name } } } }`),
			"COMPLEXITY_LIMIT_EXCEEDED", "VEIL_MAX_COMPLEXITY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := anon.GraphQL(tc.query, nil)
			e := wantCode(t, r.Raw, tc.code)
			if e.Extensions["setting"] != tc.setting {
				t.Errorf("refused by %v (%s), want %s", e.Extensions["setting"], e.Message, tc.setting)
			}
			if len(r.Raw) > 4096 {
				t.Errorf("the refusal is %d bytes", len(r.Raw))
			}
		})
	}

	t.Run("introspection counts", func(t *testing.T) {
		// With a limit of 100, a field list of the whole schema is over it; on f7a2da4 __schema
		// was free.
		cfg := server.DefaultConfig()
		cfg.MaxComplexity = 100
		small := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &cfg})
		r := small.GraphQL(`{ __schema { types { fields { name } } } }`, nil)
		wantCode(t, r.Raw, "COMPLEXITY_LIMIT_EXCEEDED")
		if r := small.GraphQL(`{ __schema { queryType { name } } }`, nil); len(r.Errors) > 0 {
			t.Errorf("a small introspection query is refused: %s", r.Raw)
		}
	})

}
