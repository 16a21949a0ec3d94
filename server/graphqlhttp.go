package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Codes of GraphQL-over-HTTP request errors found before a document is parsed.
const (
	// CodeBadRequest: the body is not JSON, or its parameters have the wrong types.
	CodeBadRequest = "BAD_REQUEST"
	// CodeMethodNotAllowed: a mutation sent with GET (answered 405 with Allow: POST).
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	// CodeUnsupportedMediaType: a POST whose Content-Type is neither application/json nor
	// multipart/form-data (answered 415).
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
)

const (
	mediaJSON         = "application/json"
	mediaGraphQLJSON  = "application/graphql-response+json"
	contentTypeSuffix = "; charset=utf-8"
)

// graphQLHTTP serves GET, HEAD and non-multipart POST requests as the GraphQL-over-HTTP
// specification asks (https://graphql.github.io/graphql-over-http/draft/):
//
//   - the answer is application/graphql-response+json when the client accepts it (listed before
//     application/json in Accept), application/json otherwise;
//   - a request error found before a document is parsed (the body is not JSON, a parameter has
//     the wrong type, no query) is 400 with a BAD_REQUEST error that never quotes the body;
//   - a document that fails to parse or validate, or variables that fail to coerce, are request
//     errors: 200 with errors for application/json, 400 for application/graphql-response+json,
//     and never a "data" entry (the operation did not execute);
//   - a mutation sent with GET is 405 with Allow: POST, and HEAD answers as GET would;
//   - a POST that is not JSON (or multipart, which upload.Transport serves) is 415.
type graphQLHTTP struct{}

var _ graphql.Transport = graphQLHTTP{}

// Supports takes every plain HTTP request: the streaming transports (websocket, SSE), OPTIONS
// and multipart are registered before it.
func (graphQLHTTP) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return true
	}
	return false
}

// requestError is a request refused before a document is parsed.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func (t graphQLHTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMediaType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media+contentTypeSuffix)
	start := graphql.Now()
	params, err := readParams(r)
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			re = &requestError{http.StatusBadRequest, CodeBadRequest, err.Error()}
		}
		if re.status == http.StatusUnsupportedMediaType {
			w.Header().Set("Accept-Post", "application/json, multipart/form-data")
		}
		writeRequestErrors(w, re.status, &graphql.Response{Errors: gqlerror.List{codedError(re.code, re.msg)}})
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	ctx := r.Context()
	opCtx, gerrs := exec.CreateOperationContext(ctx, params)
	if gerrs != nil {
		// Parse, validation and coercion failures, and Veil's own refusals made before execution
		// (limits, subscription transport): the operation never ran.
		status := http.StatusOK
		if media == mediaGraphQLJSON {
			status = http.StatusBadRequest
		}
		writeRequestErrors(w, status, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), gerrs))
		return
	}
	if r.Method != http.MethodPost && opCtx.Operation.Operation == ast.Mutation {
		w.Header().Set("Allow", http.MethodPost)
		writeRequestErrors(w, http.StatusMethodNotAllowed, &graphql.Response{Errors: gqlerror.List{
			codedError(CodeMethodNotAllowed, "mutations must be sent with POST: GET only runs queries")}})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeResponse(w, responses(ctx))
}

// writeResponse writes resp as json.Marshal would. The usual answer, data alone, is written as
// it is: gqlgen's marshalers produce compact JSON already, so json.Marshal's validating re-scan
// of the whole data is skipped unless the data holds a byte json.Marshal would escape (<, >, &,
// U+2028, U+2029); the bytes are the same either way.
func writeResponse(w http.ResponseWriter, resp *graphql.Response) {
	if resp != nil && len(resp.Errors) == 0 && resp.Label == "" && len(resp.Path) == 0 && resp.HasNext == nil &&
		len(resp.Extensions) == 0 && len(resp.Data) > 0 && !htmlEscaped(resp.Data) {
		b := make([]byte, 0, len(resp.Data)+len(`{"data":}`))
		b = append(b, `{"data":`...)
		b = append(b, resp.Data...)
		_, _ = w.Write(append(b, '}'))
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Errorf("server: encode the GraphQL response: %w", err)) // the handler's recover answers INTERNAL
	}
	_, _ = w.Write(b)
}

// htmlEscaped reports whether json.Marshal would rewrite data (compact JSON) by escaping.
func htmlEscaped(data []byte) bool {
	return bytes.ContainsAny(data, "<>&") || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029"))
}

func codedError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// writeRequestErrors answers a request that did not execute: errors (and extensions), and no
// "data" entry at all, as the GraphQL specification asks of request errors.
func writeRequestErrors(w http.ResponseWriter, status int, resp *graphql.Response) {
	b, err := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	if err != nil {
		panic(fmt.Errorf("server: encode GraphQL errors: %w", err))
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// responseMediaType picks the answer's media type from Accept: the first of
// application/graphql-response+json and application/json (or a wildcard, which means
// application/json) that is listed with a q-value above 0; application/json when there is no
// Accept header or it lists neither (the legacy default the specification allows).
func responseMediaType(accept string) string {
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
				continue
			}
		}
		switch mt {
		case mediaGraphQLJSON:
			return mediaGraphQLJSON
		case mediaJSON, "application/*", "*/*":
			return mediaJSON
		}
	}
	return mediaJSON
}

// readParams reads the GraphQL request parameters from the URL (GET, HEAD) or the JSON body
// (POST). Errors are *requestError and never quote the body.
func readParams(r *http.Request) (*graphql.RawParams, error) {
	if r.Method != http.MethodPost {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is malformed"}
		}
		raw := map[string]json.RawMessage{}
		for _, name := range []string{"query", "operationName"} {
			if v := q.Get(name); v != "" {
				raw[name], _ = json.Marshal(v)
			}
		}
		for _, name := range []string{"variables", "extensions"} {
			if v := q.Get(name); v != "" {
				raw[name] = json.RawMessage(v)
			}
		}
		return paramsFrom(raw)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != mediaJSON {
		return nil, &requestError{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"send GraphQL requests as application/json (or multipart/form-data for uploads)"}
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return paramsFromBody(body)
}

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &requestError{http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
				fmt.Sprintf("the request body is larger than the limit of %d bytes", mbe.Limit)}
		}
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body could not be read"}
	}
	return body, nil
}

// paramsFromBody reads the parameters of a JSON POST body.
func paramsFromBody(body []byte) (*graphql.RawParams, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body is empty: send {\"query\": …}"}
	case body[0] == '[':
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "batched requests are not supported: send one operation per request"}
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body is not a JSON object" + jsonErrorPlace(err)}
	}
	return paramsFrom(raw)
}

// jsonErrorPlace says where a JSON body broke, without quoting it.
func jsonErrorPlace(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
	}
	return ""
}

// paramsFrom checks the type of each parameter the specification defines: query and
// operationName strings, variables and extensions maps, each possibly null. A missing query is
// allowed only for a persisted query, which names its document by hash in extensions.
func paramsFrom(raw map[string]json.RawMessage) (*graphql.RawParams, error) {
	var p graphql.RawParams
	bad := func(name, want string) error {
		return &requestError{http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("the %s parameter must be %s", name, want)}
	}
	decode := func(name string, v any) bool {
		msg, ok := raw[name]
		if !ok || string(msg) == "null" {
			return true
		}
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.UseNumber()
		return dec.Decode(v) == nil && !dec.More()
	}
	if !decode("query", &p.Query) {
		return nil, bad("query", "a string")
	}
	if !decode("operationName", &p.OperationName) {
		return nil, bad("operationName", "a string")
	}
	if !decode("variables", &p.Variables) {
		return nil, bad("variables", "a JSON object")
	}
	if !decode("extensions", &p.Extensions) {
		return nil, bad("extensions", "a JSON object")
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the query parameter is missing"}
	}
	return &p, nil
}

// sseTransport is gqlgen's server-sent-events transport behind the same body checks as
// graphQLHTTP: gqlgen's own answer to a body that is not JSON quotes the body (and logs it).
// Each write of the stream must reach the client within writeTimeout, as on websockets.
type sseTransport struct {
	transport.SSE
	writeTimeout time.Duration
}

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := readBody(r)
	if err == nil {
		_, err = paramsFromBody(body)
	}
	if err != nil {
		re := err.(*requestError)
		w.Header().Set("Content-Type", mediaJSON+contentTypeSuffix)
		writeRequestErrors(w, re.status, &graphql.Response{Errors: gqlerror.List{codedError(re.code, re.msg)}})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sw := &sseWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: t.writeTimeout, fail: cancel}
	// The deadline belongs to this stream's events. net/http clears a connection's write deadline
	// after each handler (so the next request on a kept-alive connection never sees it, see
	// TestSSEDeadlineClearedForTheNextRequest); clearing it here also spares the response's end,
	// which net/http writes after the handler returns.
	defer func() { _ = sw.rc.SetWriteDeadline(time.Time{}) }()
	t.SSE.Do(sw, r.WithContext(ctx), exec)
}

// sseWriter gives every write and flush of an event stream a deadline, and ends the stream when
// one fails: gqlgen ignores write errors, so a client that stopped reading would otherwise keep
// its subscription (the handler blocked in a write for as long as the client holds the socket,
// or, past a deadline, failing every write at once and carrying on).
type sseWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	fail    context.CancelFunc
}

func (w *sseWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.ResponseWriter.Write(p)
	if err != nil {
		w.fail()
	}
	return n, err
}

func (w *sseWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	if err := w.rc.Flush(); err != nil {
		w.fail()
	}
}

func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
