package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// Issue 14, item 6: uploads are authorised before a byte of a file is read or spooled; refused
// ones get 401/403 with Connection: close and the body is not read; what is still spooled (file
// parts out of order, from a caller who may upload) is bounded per request and in total and is
// removed on every path.

// twoFiles uploads an image (a) and a text document (b); its file parts are sent in the order the
// test chooses.
const twoFiles = `mutation($a: UploadImageInput!, $b: UploadDocumentInput!) { a: uploadImage(input: $a) { id } b: uploadDocument(input: $b) { id } }`

// oooPart is one file part of an out-of-order body.
type oooPart struct {
	key  string // "0" is variables.a.file, "1" variables.b.file
	body io.Reader
}

// oooBody writes a multipart body for twoImages into collection col ("" = root) whose file parts
// come in the given order, into pw, and closes it.
func oooBody(pw *io.PipeWriter, mw *multipart.Writer, col string, parts ...oooPart) {
	input := func() map[string]any {
		m := map[string]any{"file": nil}
		if col != "" {
			m["collectionId"] = col
		}
		return m
	}
	ops, _ := json.Marshal(map[string]any{"query": twoFiles, "variables": map[string]any{"a": input(), "b": input()}})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.a.file"], "1": ["variables.b.file"]}`)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.key == "0" {
			h.Set("Content-Disposition", `form-data; name="0"; filename="part0.png"`)
			h.Set("Content-Type", "image/png")
		} else {
			h.Set("Content-Disposition", `form-data; name="1"; filename="part1.txt"`)
			h.Set("Content-Type", "text/plain")
		}
		w, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(w, p.body)
		}
		if err != nil {
			pw.CloseWithError(err)
			return
		}
	}
	pw.CloseWithError(mw.Close())
}

// countingReader counts what the HTTP client pulled from the body; once past watchAt it lists
// dir once, recording whether anything was being spooled there at that moment.
type countingReader struct {
	r       io.Reader
	n       atomic.Int64
	watchAt int64
	dir     string
	once    sync.Once
	seen    []string
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n.Add(int64(n)) > c.watchAt && c.dir != "" {
		c.once.Do(func() { c.seen = dirNames(c.dir) })
	}
	return n, err
}

func dirNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// oooRequest starts an out-of-order upload as token ("" = anonymous); the caller reads the
// response and calls done.
func oooRequest(t *testing.T, srv *veiltest.Server, token string, body io.Reader, contentType string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Apollo-Require-Preflight", "true")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.HTTP.Client().Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return resp
}

func spoolServer(t *testing.T, tune func(*server.Config)) (*veiltest.Server, string) {
	t.Helper()
	spool := t.TempDir()
	scfg := server.DefaultConfig()
	scfg.UploadTempDir = spool
	if tune != nil {
		tune(&scfg)
	}
	return veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &scfg}), spool
}

// TestUploadAuthBeforeSpool: an anonymous caller, a user without ADD anywhere, and a user with ADD
// elsewhere send 64 MiB of file part out of order: each is refused (401, 403, FORBIDDEN) without
// the server reading the body (the client could write at most what socket buffers hold) and
// nothing was ever spooled.
func TestUploadAuthBeforeSpool(t *testing.T) {
	srv, spool := spoolServer(t, nil)
	var cols struct{ X, Y struct{ ID string } }
	srv.GraphQL(`mutation { X: createCollection(input: {name: "spool X"}) { id } Y: createCollection(input: {name: "spool Y"}) { id } }`, nil).Decode(t, &cols)
	viewOnly, viewGroup := azUserInGroup(t, srv, "viewonly")
	azGrant(t, srv, viewGroup, "VIEW", cols.Y.ID)
	addX, addGroup := azUserInGroup(t, srv, "addx")
	azGrant(t, srv, addGroup, "ADD", cols.X.ID)
	azGrant(t, srv, addGroup, "VIEW", cols.Y.ID)

	const size = 64 << 20
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"anonymous", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"no ADD anywhere", azToken(t, srv, viewOnly, nil), http.StatusForbidden, "FORBIDDEN"},
		{"ADD elsewhere", azToken(t, srv, addX, nil), http.StatusOK, "FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			go oooBody(pw, mw, cols.Y.ID, oooPart{"1", text(size)}, oooPart{"0", bytes.NewReader(azPNG(1))})
			body := &countingReader{r: pr, watchAt: 24 << 20, dir: spool}
			resp := oooRequest(t, srv, tc.token, body, mw.FormDataContentType())
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if the server stopped reading
			var r veiltest.Response
			_ = json.Unmarshal(raw, &r)
			if resp.StatusCode != tc.status || r.Code() != tc.code {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, raw, tc.status, tc.code)
			}
			if !resp.Close && resp.Header.Get("Connection") != "close" {
				t.Errorf("refused upload without Connection: close: %v", resp.Header)
			}
			t.Logf("the client wrote %d KiB of the 64 MiB body", body.n.Load()>>10)
			if n := body.n.Load(); n >= 16<<20 {
				t.Errorf("the client wrote %d MiB of a refused upload; want the server to stop reading", n>>20)
			}
			if len(body.seen) > 0 {
				t.Errorf("spooled before authorisation: %v in the spool folder while sending", body.seen)
			}
			if names := dirNames(spool); len(names) > 0 {
				t.Errorf("spool folder after the request: %v", names)
			}
		})
	}
	if rows := srv.RowCounts(t); rows["images"] != 0 || rows["documents"] != 0 {
		t.Errorf("refused uploads stored rows: %v", rows)
	}
}

// text returns n bytes of text that differ from every other call's.
var textSeq atomic.Int64

func text(n int64) io.Reader {
	head := fmt.Sprintf("spooled text %d\n", textSeq.Add(1))
	return io.LimitReader(io.MultiReader(strings.NewReader(head), letters{}), n)
}

type letters struct{}

func (letters) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return len(p), nil
}

// TestUploadSpoolLimits: an authorised caller's out-of-order parts are spooled within
// VEIL_UPLOAD_SPOOL_REQUEST_MAX per request and VEIL_UPLOAD_SPOOL_MAX across requests, refused
// past either with UPLOAD_SPOOL_LIMIT; a client that aborts mid-spool leaves nothing behind and
// gives its share of the total back.
func TestUploadSpoolLimits(t *testing.T) {
	const total = 256 << 10
	srv, spool := spoolServer(t, func(c *server.Config) { c.UploadSpoolRequestMax = 192 << 10; c.UploadSpoolMax = total })

	send := func(t *testing.T, first int) veiltest.Response {
		t.Helper()
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go oooBody(pw, mw, "", oooPart{"1", text(int64(first))}, oooPart{"0", bytes.NewReader(azPNG(int(textSeq.Load())))})
		resp := oooRequest(t, srv, srv.AdminToken, pr, mw.FormDataContentType())
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		pr.CloseWithError(io.ErrClosedPipe)
		var r veiltest.Response
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%d %s", resp.StatusCode, raw)
		}
		r.Raw = raw
		return r
	}
	spoolCode := func(r veiltest.Response) (string, any) {
		for _, e := range r.Errors {
			if e.Extensions["code"] == server.CodeUploadSpoolLimit {
				return e.Extensions["code"].(string), e.Extensions["scope"]
			}
		}
		return "", nil
	}

	// Within the limits: part a is stored although its part came second.
	r := send(t, 64<<10)
	if code, _ := spoolCode(r); code != "" || !strings.Contains(string(r.Data), `"a":{"id":"img_`) || !strings.Contains(string(r.Data), `"b":{"id":"doc_`) {
		t.Errorf("64 KiB spooled: %s", r.Raw)
	}
	// Past the per-request cap.
	r = send(t, 200<<10)
	if code, scope := spoolCode(r); code != server.CodeUploadSpoolLimit || scope != "request" {
		t.Errorf("200 KiB spooled in one request: %s, want UPLOAD_SPOOL_LIMIT scope request", r.Raw)
	}
	if names := dirNames(spool); len(names) > 0 {
		t.Errorf("spool folder after a refused request: %v", names)
	}

	// Hold 160 KiB spooled in a request whose client then stalls.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	held := make(chan struct{})
	go oooBody(pw, mw, "", oooPart{"1", io.MultiReader(text(160<<10), heldReader{held})}, oooPart{"0", bytes.NewReader(azPNG(7))})
	respc := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		resp, err := srv.HTTP.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		respc <- resp
	}()
	waitFor(t, "160 KiB spooled", func() bool { return spooledBytes(spool) >= 160<<10 })
	// 160 + 128 KiB > 256 KiB: the second request is refused on the total.
	r = send(t, 128<<10)
	if code, scope := spoolCode(r); code != server.CodeUploadSpoolLimit || scope != "total" {
		t.Errorf("second request past the total: %s, want UPLOAD_SPOOL_LIMIT scope total", r.Raw)
	}
	// The stalled client goes away mid-part.
	pw.CloseWithError(io.ErrUnexpectedEOF)
	close(held)
	<-respc
	waitFor(t, "the aborted request's spool removed", func() bool { return len(dirNames(spool)) == 0 })
	// Its share is back: 128 KiB fits again.
	r = send(t, 128<<10)
	if code, _ := spoolCode(r); code != "" || !strings.Contains(string(r.Data), `"b":{"id":"doc_`) {
		t.Errorf("after the abort: %s", r.Raw)
	}
	if names := dirNames(spool); len(names) > 0 {
		t.Errorf("spool folder at the end: %v", names)
	}
}

// heldReader blocks until its channel is closed, then fails: a client that stalls, then aborts.
type heldReader struct{ c chan struct{} }

func (h heldReader) Read([]byte) (int, error) { <-h.c; return 0, io.ErrUnexpectedEOF }

func spooledBytes(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// waitFor polls cond (a state the server reaches on its own goroutines) with a generous bound
// that only decides how long a failing test takes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wsWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wsWait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
