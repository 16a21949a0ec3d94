package upload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Transport is a gqlgen transport for multipart requests that streams file parts.
type Transport struct {
	// MaxRequestBytes caps the whole request body (files included). Over it, the request fails
	// with 413 before or while reading.
	MaxRequestBytes int64
	// MaxFieldBytes caps the operations and map fields (default 1 MiB).
	MaxFieldBytes int64
	// TempDir holds files spooled because they were read out of order (default os.TempDir()).
	TempDir string
	// MaxSpoolRequest caps the bytes one request may spool (0: no cap beyond MaxRequestBytes).
	MaxSpoolRequest int64
	// Spool, when set, caps the bytes all requests together hold spooled at once.
	Spool *SpoolBudget
}

var _ graphql.Transport = Transport{}

// Supports accepts POST multipart/form-data requests.
func (t Transport) Supports(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get("Upgrade") != "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

func (t Transport) maxField() int64 {
	if t.MaxFieldBytes <= 0 {
		return 1 << 20
	}
	return t.MaxFieldBytes
}

// Do reads operations and map, then executes the operation while the file parts are still
// arriving.
func (t Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", "application/json")
	start := graphql.Now()
	if t.MaxRequestBytes > 0 {
		if r.ContentLength > t.MaxRequestBytes {
			fail(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the request is larger than the limit of %d bytes", t.MaxRequestBytes)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, t.MaxRequestBytes)
	}
	_, ctParams, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ctParams["boundary"] == "" {
		fail(w, http.StatusBadRequest, "BAD_REQUEST", "malformed multipart request: no boundary in Content-Type")
		return
	}
	// multipart.Reader refills in 4 KiB steps; a larger buffer underneath turns a large upload
	// into far fewer socket reads.
	mr := multipart.NewReader(bufio.NewReaderSize(r.Body, 256<<10), ctParams["boundary"])
	var params graphql.RawParams
	if err := t.readField(mr, "operations", &params); err != nil {
		failErr(w, err)
		return
	}
	uploadsMap := map[string][]string{}
	if err := t.readField(mr, "map", &uploadsMap); err != nil {
		failErr(w, err)
		return
	}
	s := &stream{
		mr: mr, expected: map[string]bool{}, shared: map[string]bool{}, spooled: map[string]spooledPart{},
		consumed: map[string]bool{}, tmpDir: t.TempDir,
		maxSpool: t.MaxSpoolRequest, budget: t.Spool,
	}
	defer s.close()
	for key, paths := range uploadsMap {
		if len(paths) == 0 {
			fail(w, http.StatusBadRequest, "BAD_REQUEST", "map entry %q lists no variable paths", key)
			return
		}
		s.expected[key] = true
		if len(paths) > 1 {
			// One file for several variables (the spec allows it; apollo-upload-client sends a
			// File used twice this way): it is spooled, so that each can read all of it.
			s.shared[key] = true
		}
		for _, p := range paths {
			if err := setPath(params.Variables, p, &File{key: key, s: s}); err != nil {
				fail(w, http.StatusBadRequest, "BAD_REQUEST", "map entry %q: %v", key, err)
				return
			}
		}
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	rc, gerrs := exec.CreateOperationContext(r.Context(), &params)
	if gerrs != nil {
		// A request error (GraphQL over HTTP, application/json): 200, errors and no data entry.
		resp := exec.DispatchError(graphql.WithOperationContext(r.Context(), rc), gerrs)
		_ = json.NewEncoder(w).Encode(struct {
			Errors     gqlerror.List  `json:"errors"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Errors, resp.Extensions})
		return
	}
	if rc.Operation != nil && rc.Operation.Operation != "mutation" && len(uploadsMap) > 0 {
		// Query fields may run concurrently, and concurrent readers of one body cannot stream.
		fail(w, http.StatusBadRequest, "BAD_REQUEST", "files can only be sent with a mutation")
		return
	}
	responses, ctx := exec.DispatchOperation(r.Context(), rc)
	resp := responses(ctx)
	if s.unread() {
		// File parts the operation never read (it failed first) are not drained.
		w.Header().Set("Connection", "close")
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// readField reads the next part, which must be the named JSON field, into v.
func (t Transport) readField(mr *multipart.Reader, name string, v any) error {
	p, err := mr.NextPart()
	if err != nil {
		if tooLarge(err) {
			return &fieldError{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the request is too large"}
		}
		return &fieldError{http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("expected the %s part: %v", name, err)}
	}
	if p.FormName() != name {
		return &fieldError{http.StatusBadRequest, "BAD_REQUEST",
			fmt.Sprintf("the parts must start with operations, then map (got %q where %s belongs)", p.FormName(), name)}
	}
	data, err := io.ReadAll(io.LimitReader(p, t.maxField()+1))
	if err != nil {
		if tooLarge(err) {
			return &fieldError{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the request is too large"}
		}
		return &fieldError{http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("read %s: %v", name, err)}
	}
	if int64(len(data)) > t.maxField() {
		return &fieldError{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
			fmt.Sprintf("the %s field is larger than %d bytes", name, t.maxField())}
	}
	if name == "operations" && len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] == '[' {
		return &fieldError{http.StatusBadRequest, "BAD_REQUEST", "batched operations are not supported in multipart requests"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &fieldError{http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("the %s field is not valid JSON: %v", name, err)}
	}
	return nil
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

type fieldError struct {
	status int
	code   string
	msg    string
}

func (e *fieldError) Error() string { return e.msg }

func failErr(w http.ResponseWriter, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		fail(w, fe.status, fe.code, "%s", fe.msg)
		return
	}
	fail(w, http.StatusBadRequest, "BAD_REQUEST", "%v", err)
}

func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{
			"message":    fmt.Sprintf(format, args...),
			"extensions": map[string]any{"code": code},
		}},
	})
}

// setPath puts f at a dotted variable path such as "variables.input.file" or "variables.files.1".
// The spec requires the placeholder there to be null.
func setPath(vars map[string]any, path string, f *File) error {
	parts := strings.Split(path, ".")
	if len(parts) < 2 || parts[0] != "variables" {
		return fmt.Errorf("path %q does not start with variables.", path)
	}
	if vars == nil {
		return fmt.Errorf("path %q: the operation has no variables", path)
	}
	var cur any = vars
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return fmt.Errorf("path %q: no variable %q", path, p)
			}
			if last {
				if v != nil {
					return fmt.Errorf("path %q: the placeholder must be null", path)
				}
				c[p] = f
				return nil
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				return fmt.Errorf("path %q: %q is not an index of a %d-element list", path, p, len(c))
			}
			if last {
				if c[n] != nil {
					return fmt.Errorf("path %q: the placeholder must be null", path)
				}
				c[n] = f
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("path %q: %q is not an object or list", path, p)
		}
	}
	return fmt.Errorf("path %q is empty", path)
}
