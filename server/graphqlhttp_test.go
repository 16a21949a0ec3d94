package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// httpAnswer is one raw answer of /graphql.
type httpAnswer struct {
	status int
	header http.Header
	body   []byte
	top    map[string]json.RawMessage // the top-level entries of the JSON body
}

func sendGraphQLHTTP(t *testing.T, srv *veiltest.Server, method, query string, body, contentType, accept string) httpAnswer {
	t.Helper()
	target := srv.URL + "/graphql"
	if query != "" {
		target += "?query=" + url.QueryEscape(query)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := srv.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := httpAnswer{status: resp.StatusCode, header: resp.Header, body: raw}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &a.top); err != nil {
			t.Fatalf("%s: the answer is not a JSON object (%d): %.300s", method, resp.StatusCode, raw)
		}
	}
	return a
}

// TestGraphQLOverHTTP (issue 15, item 13): the answers the GraphQL-over-HTTP specification asks
// for, which graphql-http's audit checks (test/js/audit.mjs runs it against a real veil).
func TestGraphQLOverHTTP(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	const (
		appJSON = "application/json"
		gqlJSON = "application/graphql-response+json"
	)
	post := func(t *testing.T, body, accept string) httpAnswer {
		t.Helper()
		return sendGraphQLHTTP(t, srv, http.MethodPost, "", body, appJSON, accept)
	}
	requestErrors := map[string]string{
		"parse":      `{"query": "{ images( }"}`,
		"validation": `{"query": "{ noSuchField }"}`,
		"coercion":   `{"query": "query($n: Int) { images(first: $n) { nodes { id } } }", "variables": {"n": "many"}}`,
	}
	for name, body := range requestErrors {
		for accept, status := range map[string]int{appJSON: http.StatusOK, "": http.StatusOK, gqlJSON: http.StatusBadRequest} {
			t.Run(name+" "+accept, func(t *testing.T) {
				a := post(t, body, accept)
				if a.status != status {
					t.Errorf("status %d, want %d: %s", a.status, status, a.body)
				}
				if _, ok := a.top["data"]; ok {
					t.Errorf("a data entry in a request error: %s", a.body)
				}
				if len(a.top["errors"]) < 3 {
					t.Errorf("no errors: %s", a.body)
				}
				want := accept
				if want == "" {
					want = appJSON
				}
				if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
					t.Errorf("Content-Type %q, want %s", ct, want)
				}
			})
		}
	}

	t.Run("executed query keeps its data", func(t *testing.T) {
		a := post(t, `{"query": "{ __typename }"}`, gqlJSON)
		if a.status != http.StatusOK || string(a.top["data"]) != `{"__typename":"Query"}` {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})

	t.Run("mutation over GET is 405 with Allow", func(t *testing.T) {
		for _, accept := range []string{appJSON, gqlJSON} {
			a := sendGraphQLHTTP(t, srv, http.MethodGet, `mutation { createCollection(input: {name: "viaGET"}) { id } }`, "", "", accept)
			if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" {
				t.Errorf("Accept %s: %d, Allow %q: %s", accept, a.status, a.header.Get("Allow"), a.body)
			}
			if code := firstCode(a); code != "METHOD_NOT_ALLOWED" {
				t.Errorf("code %q, want METHOD_NOT_ALLOWED", code)
			}
		}
		if r := srv.GraphQL(`{ collections { name } }`, nil); strings.Contains(string(r.Data), "viaGET") {
			t.Fatal("the mutation sent over GET ran")
		}
	})

	t.Run("HEAD answers as GET", func(t *testing.T) {
		get := sendGraphQLHTTP(t, srv, http.MethodGet, "{ __typename }", "", "", "")
		head := sendGraphQLHTTP(t, srv, http.MethodHead, "{ __typename }", "", "", "")
		if head.status != http.StatusOK || len(head.body) != 0 {
			t.Fatalf("HEAD: %d %q", head.status, head.body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if head.header.Get(h) == "" || head.header.Get(h) != get.header.Get(h) {
				t.Errorf("HEAD %s %q, GET %q", h, head.header.Get(h), get.header.Get(h))
			}
		}
	})

	t.Run("the body is never echoed", func(t *testing.T) {
		const marker = "s3cr3t-marker"
		for _, body := range []string{
			`{"query": "{ __typename }", "` + marker,
			`{"query": "` + marker + `"`,
			`["` + marker + `"]`,
			`{"query": {"` + marker + `": 1}}`,
			`{"query": "{ __typename }", "variables": "` + marker + `"}`,
			marker,
		} {
			for _, accept := range []string{appJSON, "text/event-stream"} { // JSON POST, and SSE
				a := post(t, body, accept)
				if a.status != http.StatusBadRequest || firstCode(a) != "BAD_REQUEST" {
					t.Errorf("%.40s (%s): %d %s, want 400 BAD_REQUEST", body, accept, a.status, a.body)
				}
				if strings.Contains(string(a.body), marker) {
					t.Errorf("the answer quotes the body: %s", a.body)
				}
			}
		}
	})

	t.Run("request errors before parsing", func(t *testing.T) {
		for name, tc := range map[string]struct {
			method, query, body, contentType string
			status                           int
			code                             string
		}{
			"no body":             {http.MethodPost, "", "", appJSON, http.StatusBadRequest, "BAD_REQUEST"},
			"no query":            {http.MethodPost, "", `{"qeury": "{ __typename }"}`, appJSON, http.StatusBadRequest, "BAD_REQUEST"},
			"numeric query":       {http.MethodPost, "", `{"query": 0}`, appJSON, http.StatusBadRequest, "BAD_REQUEST"},
			"variables list":      {http.MethodPost, "", `{"query": "{ __typename }", "variables": []}`, appJSON, http.StatusBadRequest, "BAD_REQUEST"},
			"no content type":     {http.MethodPost, "", `{"query": "{ __typename }"}`, "", http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
			"text/plain":          {http.MethodPost, "", `{"query": "{ __typename }"}`, "text/plain", http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
			"GET without a query": {http.MethodGet, "", "", "", http.StatusBadRequest, "BAD_REQUEST"},
		} {
			a := sendGraphQLHTTP(t, srv, tc.method, tc.query, tc.body, tc.contentType, "")
			if a.status != tc.status || firstCode(a) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", name, a.status, a.body, tc.status, tc.code)
			}
			if _, ok := a.top["data"]; ok {
				t.Errorf("%s: a data entry: %s", name, a.body)
			}
		}
	})

	t.Run("multipart validation failure is 200 without data", func(t *testing.T) {
		r := srv.Upload(`mutation($input: UploadImageInput!) { uploadImage(input: $input) { noSuchField } }`, nil,
			veiltest.Part{Filename: "x.jpg", Body: strings.NewReader("x")})
		if r.Status != http.StatusOK || r.Code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(r.Raw), `"data"`) {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
}

func firstCode(a httpAnswer) string {
	var errs []struct {
		Extensions map[string]any `json:"extensions"`
	}
	_ = json.Unmarshal(a.top["errors"], &errs)
	if len(errs) == 0 {
		return ""
	}
	code, _ := errs[0].Extensions["code"].(string)
	return code
}
