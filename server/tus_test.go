package server_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// Issue 11, items 5–7: resumable uploads with tus 1.0 at /uploads/.

// tusClient speaks tus 1.0 with raw HTTP requests, as a test needs to (wrong offsets, bad
// checksums, someone else's id).
type tusClient struct {
	t     *testing.T
	base  string
	token string
}

func newTus(t *testing.T, srv *veiltest.Server) *tusClient {
	return &tusClient{t: t, base: srv.URL, token: srv.Token}
}

func (c *tusClient) do(method, path string, header map[string]string, body []byte) (*http.Response, string) {
	c.t.Helper()
	url := path
	if strings.HasPrefix(path, "/") {
		url = c.base + path
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// create makes an upload of size bytes and returns its URL.
func (c *tusClient) create(size int, meta string, body []byte) (*http.Response, string) {
	c.t.Helper()
	h := map[string]string{"Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta}
	if body != nil {
		h["Content-Type"] = "application/offset+octet-stream"
	}
	resp, text := c.do(http.MethodPost, server.TusPath, h, body)
	return resp, text
}

func (c *tusClient) patch(url string, offset int, chunk []byte, extra map[string]string) (*http.Response, string) {
	c.t.Helper()
	h := map[string]string{"Upload-Offset": strconv.Itoa(offset), "Content-Type": "application/offset+octet-stream"}
	for k, v := range extra {
		h[k] = v
	}
	return c.do(http.MethodPatch, url, h, chunk)
}

func (c *tusClient) offset(url string) (int, *http.Response) {
	c.t.Helper()
	resp, _ := c.do(http.MethodHead, url, nil, nil)
	n, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	return n, resp
}

func mustStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

func corpusFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partKeys lists the bucket objects holding received parts of resumable uploads.
func partKeys(t *testing.T, srv *veiltest.Server) []string {
	var out []string
	for _, k := range srv.Objects(t) {
		if strings.HasPrefix(k, media.ResumablePrefix) {
			out = append(out, k)
		}
	}
	return out
}

// documentBytes downloads document id's file through the API.
func documentBytes(t *testing.T, srv *veiltest.Server, id string) []byte {
	t.Helper()
	var out struct {
		Data struct {
			Document struct{ URL string } `json:"document"`
		}
	}
	srv.GraphQL(`query($id: ID!) { document(id: $id) { url } }`, map[string]any{"id": id}).Decode(t, &out.Data)
	if out.Data.Document.URL == "" {
		t.Fatalf("document %s has no url", id)
	}
	resp, body := srv.Get(t, out.Data.Document.URL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", out.Data.Document.URL, resp.StatusCode)
	}
	return body
}

func TestTusProtocol(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		c := newTus(t, srv)
		pdf := corpusFile(t, "documents/shared-mime-info-spec.pdf")

		t.Run("discovery", func(t *testing.T) {
			resp, body := c.do(http.MethodOptions, server.TusPath, nil, nil)
			mustStatus(t, resp, body, http.StatusOK)
			ext := resp.Header.Get("Tus-Extension")
			for _, want := range []string{"creation", "creation-with-upload", "termination", "checksum", "expiration"} {
				if !strings.Contains(ext, want) {
					t.Errorf("Tus-Extension %q lacks %s", ext, want)
				}
			}
			if resp.Header.Get("Tus-Version") != "1.0.0" || !strings.Contains(resp.Header.Get("Tus-Checksum-Algorithm"), "sha1") {
				t.Errorf("discovery headers: %v", resp.Header)
			}
		})

		t.Run("chunks, wrong offset, checksum, completion", func(t *testing.T) {
			resp, body := c.create(len(pdf), tusMetadata("filename", "spec.pdf", "filetype", "application/pdf"), nil)
			mustStatus(t, resp, body, http.StatusCreated)
			loc := resp.Header.Get("Location")
			if !strings.Contains(loc, server.TusPath+"tus_") || resp.Header.Get("Upload-Expires") == "" {
				t.Fatalf("creation: Location %q, Upload-Expires %q", loc, resp.Header.Get("Upload-Expires"))
			}
			if n, head := c.offset(loc); n != 0 || head.Header.Get("Upload-Length") != strconv.Itoa(len(pdf)) {
				t.Fatalf("HEAD: offset %d, length %q", n, head.Header.Get("Upload-Length"))
			}
			third := len(pdf) / 3
			resp, body = c.patch(loc, 0, pdf[:third], nil)
			mustStatus(t, resp, body, http.StatusNoContent)
			if resp.Header.Get("Upload-Offset") != strconv.Itoa(third) || resp.Header.Get("Upload-Expires") == "" {
				t.Fatalf("PATCH: %v", resp.Header)
			}
			// A PATCH at the wrong offset is 409 and changes nothing.
			resp, body = c.patch(loc, 0, pdf[:third], nil)
			mustStatus(t, resp, body, http.StatusConflict)
			// A chunk that does not match its checksum is 460 and nothing of it is kept.
			bad := sha1.Sum([]byte("something else"))
			resp, body = c.patch(loc, third, pdf[third:2*third], map[string]string{"Upload-Checksum": "sha1 " + base64.StdEncoding.EncodeToString(bad[:])})
			mustStatus(t, resp, body, 460)
			if n, _ := c.offset(loc); n != third {
				t.Fatalf("offset after a checksum mismatch: %d, want %d", n, third)
			}
			good := sha1.Sum(pdf[third : 2*third])
			resp, body = c.patch(loc, third, pdf[third:2*third], map[string]string{"Upload-Checksum": "sha1 " + base64.StdEncoding.EncodeToString(good[:])})
			mustStatus(t, resp, body, http.StatusNoContent)
			if len(partKeys(t, srv)) != 2 {
				t.Fatalf("parts in the bucket: %v", partKeys(t, srv))
			}
			resp, body = c.patch(loc, 2*third, pdf[2*third:], nil)
			mustStatus(t, resp, body, http.StatusNoContent)
			id := resp.Header.Get(server.HeaderUploadResult)
			if !strings.HasPrefix(id, "doc_") || resp.Header.Get(server.HeaderItemID) != id {
				t.Fatalf("completion headers: %v", resp.Header)
			}
			if got := documentBytes(t, srv, id); !bytes.Equal(got, pdf) {
				t.Fatalf("the document differs from the upload (%d bytes, want %d)", len(got), len(pdf))
			}
			if k := partKeys(t, srv); len(k) != 0 {
				t.Fatalf("parts left after completion: %v", k)
			}
			// HEAD afterwards tells a client that lost the last response what the upload became.
			_, head := c.offset(loc)
			if head.Header.Get(server.HeaderUploadResult) != id {
				t.Fatalf("HEAD after completion: %v", head.Header)
			}
			var q struct {
				Data struct {
					Upload struct {
						State  string
						Offset float64
						Size   float64
						Item   struct{ ID string }
					}
				}
			}
			srv.GraphQL(`query($id: ID!) { upload(id: $id) { state offset size item { id } } }`, map[string]any{"id": loc[strings.LastIndex(loc, "/")+1:]}).Decode(t, &q.Data)
			if q.Data.Upload.State != "COMPLETED" || q.Data.Upload.Item.ID != id || int(q.Data.Upload.Offset) != len(pdf) {
				t.Fatalf("upload(id): %+v", q.Data.Upload)
			}
		})

		t.Run("creation with upload", func(t *testing.T) {
			img := corpusFile(t, "photos/LadyBird.jpg")
			resp, body := c.create(len(img), tusMetadata("filename", "ladybird.jpg", "filetype", "image/jpeg", "title", "A ladybird"), img)
			mustStatus(t, resp, body, http.StatusCreated)
			id := resp.Header.Get(server.HeaderUploadResult)
			if !strings.HasPrefix(id, "img_") {
				t.Fatalf("creation-with-upload of a whole image: %v %s", resp.Header, body)
			}
			var q struct {
				Data struct{ Image struct{ Title string } }
			}
			srv.GraphQL(`query($id: ID!) { image(id: $id) { title } }`, map[string]any{"id": id}).Decode(t, &q.Data)
			if q.Data.Image.Title != "A ladybird" {
				t.Fatalf("title %q", q.Data.Image.Title)
			}
		})

		t.Run("termination", func(t *testing.T) {
			resp, body := c.create(len(pdf), tusMetadata("filename", "gone.pdf"), pdf[:100])
			mustStatus(t, resp, body, http.StatusCreated)
			loc := resp.Header.Get("Location")
			if len(partKeys(t, srv)) != 1 {
				t.Fatalf("parts: %v", partKeys(t, srv))
			}
			resp, body = c.do(http.MethodDelete, loc, nil, nil)
			mustStatus(t, resp, body, http.StatusNoContent)
			if _, head := c.offset(loc); head.StatusCode != http.StatusNotFound {
				t.Fatalf("HEAD after DELETE: %d", head.StatusCode)
			}
			if k := partKeys(t, srv); len(k) != 0 {
				t.Fatalf("parts left after termination: %v", k)
			}
		})

		t.Run("declared length over the limit is 413 before a byte", func(t *testing.T) {
			limit := srv.Media.Config().MaxImageBytes
			resp, body := c.create(int(limit)+1, tusMetadata("filename", "huge.png", "filetype", "image/png"), nil)
			mustStatus(t, resp, body, http.StatusRequestEntityTooLarge)
			resp, body = c.create(int(srv.Media.Config().MaxDocumentBytes)+1, tusMetadata("filename", "huge.pdf"), nil)
			mustStatus(t, resp, body, http.StatusRequestEntityTooLarge)
		})
	})
}

func TestTusUnauthorised(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		c := newTus(t, srv)
		resp, body := c.create(10, tusMetadata("filename", "a.txt"), []byte("0123456789"[:5]))
		mustStatus(t, resp, body, http.StatusCreated)
		loc := resp.Header.Get("Location")

		anon := &tusClient{t: t, base: srv.URL}
		resp, body = anon.create(10, tusMetadata("filename", "a.txt"), nil)
		mustStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = anon.patch(loc, 5, []byte("56789"), nil)
		mustStatus(t, resp, body, http.StatusUnauthorized)

		// Another user (even an admin) does not see the upload: NOT_FOUND, for every method.
		ctx := auth.WithViewer(context.Background(), auth.System)
		other, err := srv.Auth.CreateAdmin(ctx, "Other", "other@test.invalid", "other")
		if err != nil {
			t.Fatal(err)
		}
		o := &tusClient{t: t, base: srv.URL, token: other}
		if _, head := o.offset(loc); head.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD of someone else's upload: %d", head.StatusCode)
		}
		resp, body = o.patch(loc, 5, []byte("56789"), nil)
		mustStatus(t, resp, body, http.StatusNotFound)
		resp, body = o.do(http.MethodDelete, loc, nil, nil)
		mustStatus(t, resp, body, http.StatusNotFound)
		r := srv.As(other).GraphQL(`query($id: ID!) { upload(id: $id) { state } }`, map[string]any{"id": loc[strings.LastIndex(loc, "/")+1:]})
		if r.Code() != "NOT_FOUND" {
			t.Fatalf("upload(id) of someone else's upload: %s", r.Raw)
		}
		// The owner is unaffected.
		resp, body = c.patch(loc, 5, []byte("56789"), nil)
		mustStatus(t, resp, body, http.StatusNoContent)
	})
}

func TestTusBadInput(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		c := newTus(t, srv)
		png := corpusFile(t, "png/Spring.png")
		cases := []struct {
			name string
			meta string
			body []byte
		}{
			{"type lie: PNG bytes named .pdf", tusMetadata("filename", "report.pdf", "filetype", "application/pdf"), png},
			{"type lie: PNG bytes claimed JPEG", tusMetadata("filename", "photo.jpg", "filetype", "image/jpeg"), png},
			{"pixel bomb", tusMetadata("filename", "bomb.png", "filetype", "image/png"), append(pngHeader(30000, 30000), make([]byte, 4096)...)},
			{"hostile filename", tusMetadata("filename", "../../etc/passwd", "kind", "document"), []byte("root:x:0:0")},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := srv.RowCounts(t)
				resp, body := c.create(len(tc.body), tc.meta, nil)
				if resp.StatusCode == http.StatusUnprocessableEntity {
					return // refused at creation (the filename), before a byte
				}
				mustStatus(t, resp, body, http.StatusCreated)
				loc := resp.Header.Get("Location")
				resp, body = c.patch(loc, 0, tc.body, nil)
				mustStatus(t, resp, body, http.StatusUnprocessableEntity)
				if !strings.Contains(body, "BAD_USER_INPUT") {
					t.Fatalf("refusal body: %s", body)
				}
				if k := partKeys(t, srv); len(k) != 0 {
					t.Fatalf("parts left after a refusal: %v", k)
				}
				after := srv.RowCounts(t)
				if after["images"] != before["images"] || after["documents"] != before["documents"] {
					t.Fatalf("rows changed: %v → %v", before, after)
				}
				var q struct {
					Data struct {
						Upload struct{ State, ErrorCode, Error string }
					}
				}
				srv.GraphQL(`query($id: ID!) { upload(id: $id) { state errorCode error } }`, map[string]any{"id": loc[strings.LastIndex(loc, "/")+1:]}).Decode(t, &q.Data)
				if q.Data.Upload.State != "FAILED" || q.Data.Upload.ErrorCode != "BAD_USER_INPUT" {
					t.Fatalf("upload(id): %+v", q.Data.Upload)
				}
				if _, head := c.offset(loc); head.StatusCode != http.StatusGone {
					t.Fatalf("HEAD of a refused upload: %d", head.StatusCode)
				}
			})
		}
		t.Run("size mismatch: more bytes than declared", func(t *testing.T) {
			resp, body := c.create(10, tusMetadata("filename", "a.txt"), nil)
			mustStatus(t, resp, body, http.StatusCreated)
			loc := resp.Header.Get("Location")
			resp, body = c.patch(loc, 0, []byte("0123456789ABCDEF"), nil)
			mustStatus(t, resp, body, http.StatusRequestEntityTooLarge)
			if n, _ := c.offset(loc); n != 0 {
				t.Fatalf("offset after an oversize chunk: %d", n)
			}
		})
	})
}

// TestTusResumeAfterRestart stops an instance mid-upload and resumes on a new one over the same
// database and bucket; then starts on instance A and finishes on instance B running at the same
// time.
func TestTusResumeAfterRestartAndOnAnotherInstance(t *testing.T) {
	urls := map[string]string{"sqlite": veiltest.SQLiteURL(t)}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		urls["postgres"] = veiltest.PostgresURL(t)
	}
	for name, dbURL := range urls {
		t.Run(name, func(t *testing.T) { tusResumeAfterRestart(t, dbURL) })
	}
}

func tusResumeAfterRestart(t *testing.T, dbURL string) {
	bucket := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "media"))
	open := func() *models.DB { return veiltest.Open(t, dbURL) }
	pdf := corpusFile(t, "documents/shared-mime-info-spec.pdf")
	half := len(pdf) / 2

	first := veiltest.NewServer(t, open(), &veiltest.ServerOptions{StorageURL: bucket})
	c := newTus(t, first)
	resp, body := c.create(len(pdf), tusMetadata("filename", "spec.pdf"), pdf[:half])
	mustStatus(t, resp, body, http.StatusCreated)
	path := strings.TrimPrefix(resp.Header.Get("Location"), first.URL)
	if err := first.App.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	first.HTTP.Close()

	second := veiltest.NewServer(t, open(), &veiltest.ServerOptions{StorageURL: bucket})
	c2 := &tusClient{t: t, base: second.URL, token: first.Token}
	if n, head := c2.offset(path); n != half {
		t.Fatalf("offset after restart: %d (status %d), want %d", n, head.StatusCode, half)
	}
	resp, body = c2.patch(path, half, pdf[half:], nil)
	mustStatus(t, resp, body, http.StatusNoContent)
	id := resp.Header.Get(server.HeaderUploadResult)
	if got := documentBytes(t, second.As(first.Token), id); !bytes.Equal(got, pdf) {
		t.Fatal("document after restart differs from the upload")
	}

	// Two instances at once: start on A, resume on B.
	a := second
	b := veiltest.NewServer(t, open(), &veiltest.ServerOptions{StorageURL: bucket})
	txt := bytes.Repeat([]byte("resumable on another instance\n"), 2000)
	ca := &tusClient{t: t, base: a.URL, token: first.Token}
	cb := &tusClient{t: t, base: b.URL, token: first.Token}
	resp, body = ca.create(len(txt), tusMetadata("filename", "notes.txt", "filetype", "text/plain"), txt[:1000])
	mustStatus(t, resp, body, http.StatusCreated)
	path = strings.TrimPrefix(resp.Header.Get("Location"), a.URL)
	if n, _ := cb.offset(path); n != 1000 {
		t.Fatalf("offset on B: %d", n)
	}
	resp, body = cb.patch(path, 1000, txt[1000:], nil)
	mustStatus(t, resp, body, http.StatusNoContent)
	if got := documentBytes(t, b.As(first.Token), resp.Header.Get(server.HeaderUploadResult)); !bytes.Equal(got, txt) {
		t.Fatal("document finished on B differs from the upload")
	}
}

// TestTusExpiredUploadsReconciled: an upload past its expiry cannot be resumed or completed, and
// the reconciler removes it with its parts.
func TestTusExpiredUploadsReconciled(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		c := newTus(t, srv)
		resp, body := c.create(20, tusMetadata("filename", "late.txt"), []byte("0123456789"))
		mustStatus(t, resp, body, http.StatusCreated)
		loc := resp.Header.Get("Location")
		id := loc[strings.LastIndex(loc, "/")+1:]
		ctx := context.Background()
		if _, err := srv.DB.NewUpdate().Model((*models.ResumableUpload)(nil)).Set("expires_at = ?", models.Now().Add(-time.Minute)).Where("id = ?", id).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		resp, body = c.patch(loc, 10, []byte("ABCDEFGHIJ"), nil)
		mustStatus(t, resp, body, http.StatusNotFound)
		if len(partKeys(t, srv)) != 1 {
			t.Fatalf("parts before reconciling: %v", partKeys(t, srv))
		}
		rep, err := srv.Media.Reconcile(ctx, media.ReconcileOptions{Grace: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ExpiredUploads != 1 {
			t.Fatalf("ExpiredUploads = %d", rep.ExpiredUploads)
		}
		if k := partKeys(t, srv); len(k) != 0 {
			t.Fatalf("parts left after reconciling: %v", k)
		}
		n, err := srv.DB.NewSelect().Model((*models.ResumableUpload)(nil)).Where("id = ?", id).Count(ctx)
		if err != nil || n != 0 {
			t.Fatalf("row left: %d %v", n, err)
		}
	})
}

// TestTusUploadProgress follows an upload from a second client with the uploadProgress
// subscription: the upload as it is, each recorded PATCH, and the completion, then the end of the
// stream. Someone else cannot follow it.
func TestTusUploadProgress(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		c := newTus(t, srv)
		txt := bytes.Repeat([]byte("followed from another tab\n"), 400)
		resp, body := c.create(len(txt), tusMetadata("filename", "follow.txt", "filetype", "text/plain"), txt[:1000])
		mustStatus(t, resp, body, http.StatusCreated)
		loc := resp.Header.Get("Location")
		id := loc[strings.LastIndex(loc, "/")+1:]
		const q = `subscription($id: ID!) { uploadProgress(id: $id) { state offset received item { id } } }`
		type progress struct {
			UploadProgress struct {
				State            string
				Offset, Received float64
				Item             *struct{ ID string }
			}
		}
		s := subscribeSSE(t, srv, srv.Token, q, map[string]any{"id": id})
		defer s.Close()
		next := func() progress {
			t.Helper()
			r := s.nextResult(t)
			if len(r.Errors) > 0 {
				t.Fatalf("uploadProgress errors: %+v", r.Errors)
			}
			var p progress
			if err := json.Unmarshal(r.Data, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if p := next(); p.UploadProgress.State != "RECEIVING" || p.UploadProgress.Offset != 1000 {
			t.Fatalf("first value: %+v", p)
		}
		resp, body = c.patch(loc, 1000, txt[1000:5000], nil)
		mustStatus(t, resp, body, http.StatusNoContent)
		p := next()
		for p.UploadProgress.Offset == 1000 && p.UploadProgress.Received < 5000 { // bytes seen arriving
			p = next()
		}
		if p.UploadProgress.Offset != 5000 || p.UploadProgress.Received != 5000 {
			t.Fatalf("after a PATCH: %+v", p)
		}
		resp, body = c.patch(loc, 5000, txt[5000:], nil)
		mustStatus(t, resp, body, http.StatusNoContent)
		p = next()
		for p.UploadProgress.State == "RECEIVING" { // the offset may be seen before the completion
			p = next()
		}
		if p.UploadProgress.State != "COMPLETED" || p.UploadProgress.Item == nil || p.UploadProgress.Item.ID != resp.Header.Get(server.HeaderUploadResult) {
			t.Fatalf("last value: %+v", p)
		}
		s.end(t)

		ctx := auth.WithViewer(context.Background(), auth.System)
		other, err := srv.Auth.CreateAdmin(ctx, "Other", "other@test.invalid", "other")
		if err != nil {
			t.Fatal(err)
		}
		o := subscribeSSE(t, srv, other, q, map[string]any{"id": id})
		defer o.Close()
		if r := o.nextResult(t); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "NOT_FOUND" {
			t.Fatalf("someone else's uploadProgress: %+v", r)
		}
	})
}

// TestTusCompletionRetriedAfterStorageFailure: when the bucket refuses the final object as the
// last PATCH completes an upload, the upload keeps its bytes (503, not a refusal) and the client's
// next HEAD — once the bucket is back — completes it, with the item's id in Upload-Result.
func TestTusCompletionRetriedAfterStorageFailure(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		var faults *veiltest.FaultyBucket
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{WrapStore: func(s *storage.Store) *storage.Store {
			st, f := veiltest.NewFaultyStore(s)
			faults = f
			return st
		}})
		c := newTus(t, srv)
		pdf := corpusFile(t, "documents/shared-mime-info-spec.pdf")
		resp, body := c.create(len(pdf), tusMetadata("filename", "spec.pdf"), nil)
		mustStatus(t, resp, body, http.StatusCreated)
		loc := resp.Header.Get("Location")

		faults.FailWrites(&os.PathError{Op: "write", Path: "x.tmp", Err: syscall.ENOSPC}, 0,
			func(key string) bool { return strings.HasPrefix(key, "documents/") })
		resp, body = c.patch(loc, 0, pdf, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Upload-Result") != "" {
			t.Fatalf("final PATCH with the bucket full: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		var up struct {
			Upload struct {
				State  string
				Offset int
			}
		}
		srv.GraphQL(`query($id: ID!) { upload(id: $id) { state offset } }`, map[string]any{"id": path.Base(loc)}).Decode(t, &up)
		if up.Upload.State != "RECEIVING" || up.Upload.Offset != len(pdf) {
			t.Fatalf("after the failed completion: %+v, want RECEIVING with %d bytes (kept)", up.Upload, len(pdf))
		}
		// Still failing: a HEAD retries and fails again, keeping everything.
		if resp, _ := c.do(http.MethodHead, loc, nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("HEAD with the bucket still full: %d", resp.StatusCode)
		}

		faults.FailWrites(nil, 0, nil)
		resp, body = c.do(http.MethodHead, loc, nil, nil)
		id := resp.Header.Get("Upload-Result")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(id, "doc_") {
			t.Fatalf("HEAD once the bucket is back: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		if got, _ := srv.Get(t, mustDocumentURL(t, srv, id), nil); got.StatusCode != http.StatusOK {
			t.Fatalf("the completed document: %d", got.StatusCode)
		}
		if n := srv.RowCounts(t); n["documents"] != 1 {
			t.Fatalf("rows: %v", n)
		}
	})
}

func mustDocumentURL(t *testing.T, srv *veiltest.Server, id string) string {
	t.Helper()
	var out struct{ Document struct{ URL string } }
	srv.GraphQL(`query($id: ID!) { document(id: $id) { url } }`, map[string]any{"id": id}).Decode(t, &out)
	if out.Document.URL == "" {
		t.Fatalf("document %s has no URL", id)
	}
	return out.Document.URL
}
