package server_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// pngHeader returns a valid PNG signature and IHDR claiming w×h, with nothing after it.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// snapshot is everything a failed upload must leave unchanged: rows and files on disk.
type snapshot struct {
	rows  map[string]int
	files []string
}

func takeSnapshot(t *testing.T, srv *veiltest.Server) snapshot {
	t.Helper()
	var files []string
	_ = filepath.Walk(srv.Store.Dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != srv.Store.Dir {
			files = append(files, strings.TrimPrefix(p, srv.Store.Dir))
		}
		return nil
	})
	return snapshot{rows: srv.RowCounts(t), files: files}
}

func (s snapshot) equal(o snapshot) bool {
	if len(s.files) != len(o.files) {
		return false
	}
	for i := range s.files {
		if s.files[i] != o.files[i] {
			return false
		}
	}
	for k, v := range s.rows {
		if o.rows[k] != v {
			return false
		}
	}
	return true
}

// TestBadUploads: each hostile or broken upload gets a clear error with the right code, and the
// database and the bucket folder are exactly as before (no row, no object, no temp file, no folder).
func TestBadUploads(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		cfg := media.DefaultConfig()
		cfg.MaxImageBytes = 200 << 10
		cfg.MaxDocumentBytes = 2 << 20
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Media: &cfg})
		garden, err := os.ReadFile(veiltest.Corpus(t, "photos/Garden.jpg")) // 2560×1600, 264 KB: over the 200 KiB limit
		if err != nil {
			t.Fatal(err)
		}
		upright, _ := os.ReadFile(veiltest.Corpus(t, "orientation/upright.jpg"))
		pdf, _ := os.ReadFile(veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf"))
		pngBytes, _ := os.ReadFile(veiltest.Corpus(t, "webp/vnc-d.webp"))
		animated, _ := os.ReadFile(veiltest.Corpus(t, "refused/animated.webp"))
		elf := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 120)...)
		cases := []struct {
			name, mutation, filename, contentType string
			body                                  []byte
			code, message                         string
		}{
			{"empty file", veiltest.UploadImageMutation, "a.jpg", "", nil, "BAD_USER_INPUT", "empty"},
			{"truncated JPEG", veiltest.UploadImageMutation, "t.jpg", "", upright[:len(upright)/2], "BAD_USER_INPUT", "truncated"},
			{"text renamed .jpg", veiltest.UploadImageMutation, "notes.jpg", "", []byte("just some text, honestly"), "BAD_USER_INPUT", "not a JPEG, PNG, GIF or WebP"},
			{"executable renamed .png", veiltest.UploadImageMutation, "run.png", "", elf, "BAD_USER_INPUT", "not a JPEG, PNG, GIF or WebP"},
			{"animated WebP", veiltest.UploadImageMutation, "anim.webp", "", animated, "BAD_USER_INPUT", "animated WebP is not supported; upload a still image or a document"},
			{"HTML claiming image/png", veiltest.UploadImageMutation, "x.png", "image/png", []byte("<!DOCTYPE html><script>alert(1)</script>"), "BAD_USER_INPUT", "not a JPEG"},
			{"PNG header claiming 30000x30000", veiltest.UploadImageMutation, "bomb.png", "", pngHeader(30000, 30000), "BAD_USER_INPUT", ""},
			{"oversized image", veiltest.UploadImageMutation, "big.jpg", "", garden, "PAYLOAD_TOO_LARGE", "larger than the limit"},
			{"oversized document", veiltest.UploadDocumentMutation, "big.pdf", "", append(append([]byte{}, pdf...), make([]byte, 3<<20)...), "PAYLOAD_TOO_LARGE", "larger than the limit"},
			{"filename with ../", veiltest.UploadImageMutation, "../../etc/x.jpg", "", upright, "BAD_USER_INPUT", "path separators"},
			{"filename with NUL", veiltest.UploadImageMutation, "a\x00b.jpg", "", upright, "BAD_USER_INPUT", ""},
			{"filename with RTL override", veiltest.UploadImageMutation, "photo\u202egpj.exe", "", upright, "BAD_USER_INPUT", "bidirectional"},
			{"JPEG named .png", veiltest.UploadImageMutation, "x.png", "", upright, "BAD_USER_INPUT", "filename says .png"},
			{"WebP claiming image/jpeg", veiltest.UploadImageMutation, "x.webp", "image/jpeg", pngBytes, "BAD_USER_INPUT", "claims image/jpeg"},
			{"HTML document named .txt", veiltest.UploadDocumentMutation, "a.txt", "", []byte("<!DOCTYPE html><html><body onload=alert(1)>"), "BAD_USER_INPUT", "not accepted"},
			{"executable named .pdf", veiltest.UploadDocumentMutation, "a.pdf", "", elf, "BAD_USER_INPUT", "not accepted"},
			{"PDF named .odt", veiltest.UploadDocumentMutation, "a.odt", "", pdf, "BAD_USER_INPUT", "filename says .odt"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := takeSnapshot(t, srv)
				r := srv.Upload(c.mutation, nil, veiltest.Part{Filename: c.filename, ContentType: c.contentType, Body: bytes.NewReader(c.body)})
				if r.Code() != c.code || !strings.Contains(r.Errors[0].Message, c.message) {
					t.Fatalf("got %s", r.Raw)
				}
				if after := takeSnapshot(t, srv); !before.equal(after) {
					t.Fatalf("state changed: %+v → %+v", before, after)
				}
			})
		}
		t.Run("duplicate", func(t *testing.T) {
			first := srv.UploadImage(t, veiltest.Part{Filename: "u.jpg", Body: bytes.NewReader(upright)}, nil)
			before := takeSnapshot(t, srv)
			r := srv.Upload(veiltest.UploadImageMutation, nil, veiltest.Part{Filename: "again.jpg", Body: bytes.NewReader(upright)})
			if r.Code() != "DUPLICATE" || r.Errors[0].Extensions["existingId"] != first.ID {
				t.Fatalf("got %s", r.Raw)
			}
			if after := takeSnapshot(t, srv); !before.equal(after) {
				t.Fatal("duplicate left something behind")
			}
		})
	})
}

// TestBadRequests: malformed multipart envelopes, oversized bodies and hostile GraphQL documents
// get clear 4xx errors and store nothing.
func TestBadRequests(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	before := takeSnapshot(t, srv)
	raw := func(contentType, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	mp := func(parts ...[2]string) string {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString("--XX\r\nContent-Disposition: form-data; name=\"" + p[0] + "\"\r\n\r\n" + p[1] + "\r\n")
		}
		b.WriteString("--XX--\r\n")
		return b.String()
	}
	ops := `{"query":"mutation($f: Upload!) { uploadImage(input: {file: $f}) { id } }","variables":{"f":null}}`
	for _, c := range []struct {
		name, ct, body string
		status         int
	}{
		{"map before operations", "multipart/form-data; boundary=XX", mp([2]string{"map", `{}`}, [2]string{"operations", ops}), 400},
		{"map not JSON", "multipart/form-data; boundary=XX", mp([2]string{"operations", ops}, [2]string{"map", `{nope`}), 400},
		{"map to a non-null variable", "multipart/form-data; boundary=XX", mp([2]string{"operations", strings.Replace(ops, `"f":null`, `"f":1`, 1)}, [2]string{"map", `{"0":["variables.f"]}`}), 400},
		{"batched operations", "multipart/form-data; boundary=XX", mp([2]string{"operations", "[" + ops + "]"}, [2]string{"map", `{}`}), 400},
		{"no boundary", "multipart/form-data", "x", 400},
		{"JSON body over the cap", "application/json", `{"query":"{ collections { id } }","x":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			if resp := raw(c.ct, c.body); resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
	for _, c := range []struct{ name, query, code string }{
		{"malformed id", `{ image(id: "nonsense") { id } }`, "BAD_USER_INPUT"},
		{"document id as image", `{ image(id: "doc_01M818HZN4S9NGPTE8NJGQZFVH") { id } }`, "BAD_USER_INPUT"},
		{"unknown image", `{ image(id: "img_01M818HZN4S9NGPTE8NJGQZFVH") { id } }`, "NOT_FOUND"},
		{"garbage cursor", `{ images(after: "!!!") { nodes { id } } }`, "BAD_USER_INPUT"},
		{"first too large", `{ images(first: 101) { nodes { id } } }`, "BAD_USER_INPUT"},
		{"first zero", `{ images(first: 0) { nodes { id } } }`, "BAD_USER_INPUT"},
		{"first negative", `{ images(first: -1) { nodes { id } } }`, "BAD_USER_INPUT"},
		{"over-long search", `{ images(filter: {search: "` + strings.Repeat("x", 300) + `"}) { nodes { id } } }`, "BAD_USER_INPUT"},
		{"nested pages over the complexity limit", `{ images(first: 100) { nodes { collection { images(first: 100) { nodes { id title } } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"syntax error", `{ images(first: `, "GRAPHQL_PARSE_FAILED"},
		{"unknown field", `{ nope }`, "GRAPHQL_VALIDATION_FAILED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if r := srv.GraphQL(c.query, nil); r.Code() != c.code {
				t.Errorf("got %s, want %s", r.Raw, c.code)
			}
		})
	}
	if after := takeSnapshot(t, srv); !before.equal(after) {
		t.Errorf("state changed: %+v → %+v", before, after)
	}
}
