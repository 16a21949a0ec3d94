package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// Issue 11, items 1–4: presigned direct uploads. createUpload hands out a signed PUT URL (on a
// folder bucket one of Veil's own), the client PUTs the bytes as a browser's fetch would, and
// completeUpload turns them into an image or a document with the same checks and codes as a
// multipart upload.

const (
	createUploadMutation   = `mutation($in: CreateUploadInput!) { createUpload(input: $in) { id url method headers { name value } expiresAt } }`
	completeUploadMutation = `mutation($id: ID!, $in: CompleteUploadInput) { completeUpload(id: $id, input: $in) { __typename id title fileSize contentType sha256 url ... on Image { width height } } }`
)

type presigned struct {
	ID        string
	URL       string
	Method    string
	Headers   []struct{ Name, Value string }
	ExpiresAt time.Time
}

type completed struct {
	Typename    string `json:"__typename"`
	ID          string
	Title       string
	FileSize    int64
	ContentType string
	SHA256      string
	URL         string
	Width       int
	Height      int
}

func createUpload(t *testing.T, srv *veiltest.Server, in map[string]any) (presigned, veiltest.Response) {
	t.Helper()
	r := srv.GraphQL(createUploadMutation, map[string]any{"in": in})
	var out struct{ CreateUpload presigned }
	if len(r.Errors) == 0 {
		r.Decode(t, &out)
	}
	return out.CreateUpload, r
}

func mustCreateUpload(t *testing.T, srv *veiltest.Server, in map[string]any) presigned {
	t.Helper()
	p, r := createUpload(t, srv, in)
	if len(r.Errors) > 0 {
		t.Fatalf("createUpload: %s", r.Raw)
	}
	return p
}

func completeUpload(t *testing.T, srv *veiltest.Server, id string, in map[string]any) (completed, veiltest.Response) {
	t.Helper()
	r := srv.GraphQL(completeUploadMutation, map[string]any{"id": id, "in": in})
	var out struct{ CompleteUpload completed }
	if len(r.Errors) == 0 {
		r.Decode(t, &out)
	}
	return out.CompleteUpload, r
}

// putBytes sends body to a presigned URL as fetch(url, {method: "PUT", headers, body}) does: the
// given headers, a Content-Length from the body, no credentials.
func putBytes(t *testing.T, base string, p presigned, header http.Header, body []byte) (int, string) {
	t.Helper()
	u := p.URL
	if strings.HasPrefix(u, "/") {
		u = base + u
	}
	req, err := http.NewRequest(p.Method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range p.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", p.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func mustPut(t *testing.T, base string, p presigned, body []byte) {
	t.Helper()
	if code, msg := putBytes(t, base, p, nil, body); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, msg)
	}
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func readCorpus(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(veiltest.Corpus(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stagingObjects lists the objects under the staging prefix.
func stagingObjects(t *testing.T, srv *veiltest.Server) []string {
	t.Helper()
	var out []string
	for _, k := range srv.Objects(t) {
		if strings.HasPrefix(k, media.StagedPrefix) {
			out = append(out, k)
		}
	}
	return out
}

// presignedRoundTrip creates, PUTs and completes one upload and checks the item against the bytes.
func presignedRoundTrip(t *testing.T, srv *veiltest.Server, kind, filename, contentType string, body []byte, withSHA bool) completed {
	t.Helper()
	in := map[string]any{"kind": kind, "filename": filename, "size": len(body), "contentType": contentType}
	if withSHA {
		in["sha256"] = hexSHA(body)
	}
	p := mustCreateUpload(t, srv, in)
	if p.Method != http.MethodPut || len(p.Headers) != 1 || p.Headers[0].Name != "Content-Type" || p.Headers[0].Value != contentType {
		t.Fatalf("createUpload gave %+v", p)
	}
	if !p.ExpiresAt.After(time.Now()) {
		t.Fatalf("expiresAt %v is not in the future", p.ExpiresAt)
	}
	mustPut(t, srv.URL, p, body)
	item, r := completeUpload(t, srv, p.ID, map[string]any{"title": "Presigned " + kind, "tags": []string{"presigned"}})
	if len(r.Errors) > 0 {
		t.Fatalf("completeUpload: %s", r.Raw)
	}
	if item.FileSize != int64(len(body)) || item.SHA256 != hexSHA(body) || item.Title != "Presigned "+kind {
		t.Fatalf("completed item %+v does not match the %d bytes sent", item, len(body))
	}
	if got := stagingObjects(t, srv); len(got) != 0 {
		t.Fatalf("staging objects left after completion: %v", got)
	}
	// The stored file is byte-identical.
	resp, got := srv.Get(t, item.URL, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET %s: %d, %d bytes (want the %d bytes sent)", item.URL, resp.StatusCode, len(got), len(body))
	}
	// Completing again returns the same item, never a second one.
	again, r := completeUpload(t, srv, p.ID, nil)
	if len(r.Errors) > 0 || again.ID != item.ID {
		t.Fatalf("second completeUpload: %+v %s", again, r.Raw)
	}
	return item
}

func TestPresignedUploadFileBucket(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		jpg := readCorpus(t, "orientation/upright.jpg")
		pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")
		t.Run("image", func(t *testing.T) {
			img := presignedRoundTrip(t, srv, "IMAGE", "upright.jpg", "image/jpeg", jpg, false)
			if img.Typename != "Image" || img.Width == 0 || img.ContentType != "image/jpeg" {
				t.Fatalf("got %+v", img)
			}
		})
		t.Run("document with sha256", func(t *testing.T) {
			doc := presignedRoundTrip(t, srv, "DOCUMENT", "spec.pdf", "application/pdf", pdf, true)
			if doc.Typename != "Document" || doc.ContentType != "application/pdf" {
				t.Fatalf("got %+v", doc)
			}
		})
		if n := srv.RowCounts(t); n["images"] != 1 || n["documents"] != 1 {
			t.Fatalf("rows: %v", n)
		}
	})
}

// TestPresignedUploadRefusals: staged bytes that are not what was declared, or that a multipart
// upload would refuse, are refused by completeUpload with the multipart upload's code, and the
// staging object is removed; nothing else changes.
func TestPresignedUploadRefusals(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		jpg := readCorpus(t, "orientation/upright.jpg")
		pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")
		animated := readCorpus(t, "refused/animated.webp")
		elf := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 120)...)
		cases := []struct {
			name, kind, filename, contentType string
			body                              []byte
			sha                               string // declared; "" = none
			direct                            []byte // written to the staging key behind Veil's back (a bucket that does not enforce the size)
			code, message                     string
			multipart                         bool // a multipart upload of body gives the same code
		}{
			{name: "text declared as PNG", kind: "IMAGE", filename: "x.png", contentType: "image/png", body: []byte("just some text, honestly"), code: "BAD_USER_INPUT", message: "not a JPEG, PNG, GIF or WebP", multipart: true},
			{name: "pixel bomb", kind: "IMAGE", filename: "bomb.png", contentType: "image/png", body: pngHeader(30000, 30000), code: "BAD_USER_INPUT", multipart: true},
			{name: "truncated JPEG", kind: "IMAGE", filename: "t.jpg", contentType: "image/jpeg", body: jpg[:len(jpg)/2], code: "BAD_USER_INPUT", message: "truncated", multipart: true},
			{name: "animated WebP", kind: "IMAGE", filename: "a.webp", contentType: "image/webp", body: animated, code: "BAD_USER_INPUT", message: "animated WebP", multipart: true},
			{name: "JPEG declared as PNG", kind: "IMAGE", filename: "x.png", contentType: "image/png", body: jpg, code: "BAD_USER_INPUT", message: "filename says .png", multipart: true},
			{name: "executable declared as PDF", kind: "DOCUMENT", filename: "a.pdf", contentType: "application/pdf", body: elf, code: "BAD_USER_INPUT", message: "not accepted", multipart: true},
			{name: "PDF declared as text", kind: "DOCUMENT", filename: "a.txt", contentType: "text/plain", body: pdf, code: "BAD_USER_INPUT", message: "filename says .txt", multipart: true},
			{name: "hash mismatch", kind: "DOCUMENT", filename: "spec.pdf", contentType: "application/pdf", body: pdf, sha: strings.Repeat("ab", 32), code: "BAD_USER_INPUT", message: "SHA-256"},
			{name: "size mismatch", kind: "DOCUMENT", filename: "spec.pdf", contentType: "application/pdf", body: pdf, direct: pdf[:len(pdf)-10], code: "BAD_USER_INPUT", message: "declared"},
			{name: "nothing uploaded", kind: "DOCUMENT", filename: "spec.pdf", contentType: "application/pdf", body: pdf, direct: []byte{}, code: "BAD_USER_INPUT", message: "nothing has been uploaded"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := srv.RowCounts(t)
				in := map[string]any{"kind": c.kind, "filename": c.filename, "size": len(c.body), "contentType": c.contentType}
				if c.sha != "" {
					in["sha256"] = c.sha
				}
				p := mustCreateUpload(t, srv, in)
				switch {
				case c.direct == nil:
					mustPut(t, srv.URL, p, c.body)
				case len(c.direct) > 0:
					if _, err := srv.Store.Write(context.Background(), "staging/"+p.ID, c.contentType, bytes.NewReader(c.direct)); err != nil {
						t.Fatal(err)
					}
				}
				_, r := completeUpload(t, srv, p.ID, nil)
				if r.Code() != c.code || !strings.Contains(r.Errors[0].Message, c.message) {
					t.Fatalf("completeUpload: %s", r.Raw)
				}
				if got := stagingObjects(t, srv); len(got) != 0 {
					t.Fatalf("staging object left after a refusal: %v", got)
				}
				if after := srv.RowCounts(t); !equalCounts(before, after) {
					t.Fatalf("rows changed: %v → %v", before, after)
				}
				if c.multipart {
					mutation := veiltest.UploadImageMutation
					if c.kind == "DOCUMENT" {
						mutation = veiltest.UploadDocumentMutation
					}
					mp := srv.Upload(mutation, nil, veiltest.Part{Filename: c.filename, ContentType: c.contentType, Body: bytes.NewReader(c.body)})
					if mp.Code() != r.Code() || mp.Errors[0].Message != r.Errors[0].Message {
						t.Fatalf("multipart gives %s, presigned gives %s", mp.Raw, r.Raw)
					}
				}
				// The upload stays open: the right bytes may be PUT again and completed.
				if c.name == "nothing uploaded" {
					mustPut(t, srv.URL, p, c.body)
					if _, r := completeUpload(t, srv, p.ID, nil); len(r.Errors) > 0 {
						t.Fatalf("completeUpload after the PUT: %s", r.Raw)
					}
				}
			})
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestPresignedUploadCreateRefusals: what can be known before a byte is sent is refused before a
// URL is issued, and no upload is recorded.
func TestPresignedUploadCreateRefusals(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.MaxImageBytes = 1 << 20
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	var c struct{ CreateCollection struct{ ID string } }
	srv.GraphQL(`mutation { createCollection(input: {name: "Private"}) { id } }`, nil).Decode(t, &c)
	col := c.CreateCollection.ID
	uid, gid := azUserInGroup(t, srv, "viewer")
	azGrant(t, srv, gid, "VIEW", col)
	viewer := srv.As(azToken(t, srv, uid, nil))
	img := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"kind": "IMAGE", "filename": "a.jpg", "size": 1000, "contentType": "image/jpeg"}
		mod(m)
		return m
	}
	cases := []struct {
		name    string
		srv     *veiltest.Server
		in      map[string]any
		code    string
		message string
	}{
		{"anonymous", srv.As(""), img(func(map[string]any) {}), "UNAUTHENTICATED", ""},
		{"no ADD on the collection", viewer, img(func(m map[string]any) { m["collectionId"] = col }), "FORBIDDEN", ""},
		{"over the image limit", srv, img(func(m map[string]any) { m["size"] = 2 << 20 }), "PAYLOAD_TOO_LARGE", "larger than the limit"},
		{"empty", srv, img(func(m map[string]any) { m["size"] = 0 }), "BAD_USER_INPUT", "empty"},
		{"filename with ../", srv, img(func(m map[string]any) { m["filename"] = "../../etc/x.jpg" }), "BAD_USER_INPUT", "path separators"},
		{"filename with RTL override", srv, img(func(m map[string]any) { m["filename"] = "photo\u202egpj.exe" }), "BAD_USER_INPUT", "bidirectional"},
		{"HTML as an image", srv, img(func(m map[string]any) { m["contentType"] = "text/html" }), "BAD_USER_INPUT", "not accepted"},
		{"extension and type disagree", srv, img(func(m map[string]any) { m["contentType"] = "image/png" }), "BAD_USER_INPUT", "filename says .jpg"},
		{"HTML document", srv, map[string]any{"kind": "DOCUMENT", "filename": "a.html", "size": 10, "contentType": "text/html"}, "BAD_USER_INPUT", "not accepted"},
		{"executable document", srv, map[string]any{"kind": "DOCUMENT", "filename": "a.exe", "size": 10, "contentType": "application/octet-stream"}, "BAD_USER_INPUT", "not accepted"},
		{"bad sha256", srv, img(func(m map[string]any) { m["sha256"] = "xyz" }), "BAD_USER_INPUT", "hexadecimal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, r := createUpload(t, c.srv, c.in)
			if r.Code() != c.code || !strings.Contains(r.Errors[0].Message, c.message) || p.URL != "" {
				t.Fatalf("got %s", r.Raw)
			}
			if n, err := srv.DB.NewSelect().Model((*models.StagedUpload)(nil)).Count(context.Background()); err != nil || n != 0 {
				t.Fatalf("%d staged uploads recorded (%v)", n, err)
			}
		})
	}
}

// TestPresignedUploadOwnershipAndExpiry: another user's upload id is NOT_FOUND; an expired
// upload can be neither PUT nor completed, and the reconciler removes it with its bytes.
func TestPresignedUploadOwnershipAndExpiry(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")
		uid, gid := azUserInGroup(t, srv, "editor")
		azGrant(t, srv, gid, "ADD", "col_00000000000000000000000000")
		other := srv.As(azToken(t, srv, uid, nil))
		in := map[string]any{"kind": "DOCUMENT", "filename": "spec.pdf", "size": len(pdf), "contentType": "application/pdf"}

		p := mustCreateUpload(t, srv, in)
		mustPut(t, srv.URL, p, pdf)
		if _, r := completeUpload(t, other, p.ID, nil); r.Code() != "NOT_FOUND" {
			t.Fatalf("another user's completeUpload: %s", r.Raw)
		}
		if _, r := completeUpload(t, srv.As(""), p.ID, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous completeUpload: %s", r.Raw)
		}
		if _, r := completeUpload(t, srv, "stg_01JD4X0000000000000000000Z", nil); r.Code() != "NOT_FOUND" {
			t.Fatalf("unknown id: %s", r.Raw)
		}

		// Expire it (as the clock would).
		expire := func(id string) {
			if _, err := srv.DB.NewUpdate().Model((*models.StagedUpload)(nil)).Set("expires_at = ?", time.Now().UTC().Add(-time.Minute)).Where("id = ?", id).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		expire(p.ID)
		if _, r := completeUpload(t, srv, p.ID, nil); r.Code() != "CONFLICT" || !strings.Contains(r.Errors[0].Message, "expired") {
			t.Fatalf("completing an expired upload: %s", r.Raw)
		}
		if code, msg := putBytes(t, srv.URL, p, nil, pdf); code != http.StatusForbidden {
			t.Fatalf("PUT after expiry: %d %s", code, msg)
		}

		// A completed upload past its expiry is removed too; its item stays.
		q := mustCreateUpload(t, srv, map[string]any{"kind": "IMAGE", "filename": "u.jpg", "size": len(readCorpus(t, "orientation/upright.jpg")), "contentType": "image/jpeg"})
		mustPut(t, srv.URL, q, readCorpus(t, "orientation/upright.jpg"))
		if _, r := completeUpload(t, srv, q.ID, nil); len(r.Errors) > 0 {
			t.Fatal(string(r.Raw))
		}
		expire(q.ID)
		// A live upload whose bytes are staged is left alone.
		live := mustCreateUpload(t, srv, in)
		mustPut(t, srv.URL, live, pdf)
		// Staging debris without a row (its row went while a write was under way) is removed.
		if _, err := srv.Store.Write(context.Background(), "staging/stg_01JD4X0000000000000000000Z", "application/pdf", strings.NewReader("debris")); err != nil {
			t.Fatal(err)
		}

		rep, err := srv.Media.Reconcile(context.Background(), media.ReconcileOptions{Grace: 0})
		if err != nil {
			t.Fatal(err)
		}
		if rep.StagedExpired != 2 || rep.StagedOrphans != 1 {
			t.Fatalf("reconcile: %+v", rep)
		}
		if got := stagingObjects(t, srv); len(got) != 1 || got[0] != "staging/"+live.ID {
			t.Fatalf("staging objects after reconcile: %v (want only the live upload's)", got)
		}
		var ids []string
		if err := srv.DB.NewSelect().Model((*models.StagedUpload)(nil)).Column("id").Scan(context.Background(), &ids); err != nil || len(ids) != 1 || ids[0] != live.ID {
			t.Fatalf("staged uploads after reconcile: %v %v", ids, err)
		}
		if n := srv.RowCounts(t); n["images"] != 1 {
			t.Fatalf("rows: %v", n)
		}
		if _, r := completeUpload(t, srv, p.ID, nil); r.Code() != "NOT_FOUND" {
			t.Fatalf("completing a reconciled upload: %s", r.Raw)
		}
		if _, r := completeUpload(t, srv, live.ID, nil); len(r.Errors) > 0 {
			t.Fatalf("completing the live upload: %s", r.Raw)
		}
	})
}

// TestStagedPutTampering: Veil's own PUT handler refuses a URL whose signature, expiry, type or
// length is not the signed one, before the body is stored; nothing is left in the bucket.
func TestStagedPutTampering(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")
	p := mustCreateUpload(t, srv, map[string]any{"kind": "DOCUMENT", "filename": "spec.pdf", "size": len(pdf), "contentType": "application/pdf"})
	withQuery := func(mod func(q url.Values)) presigned {
		u, _ := url.Parse(p.URL)
		q := u.Query()
		mod(q)
		u.RawQuery = q.Encode()
		c := p
		c.URL = u.String()
		return c
	}
	cases := []struct {
		name   string
		p      presigned
		header http.Header
		body   []byte
		status int
	}{
		{"wrong signature", withQuery(func(q url.Values) { q.Set("signature", "AAAAAAAAAAAAAAAAAAAAAA") }), nil, pdf, http.StatusForbidden},
		{"no signature", withQuery(func(q url.Values) { q.Del("signature") }), nil, pdf, http.StatusForbidden},
		{"expiry moved later", withQuery(func(q url.Values) { q.Set("expires", "99999999999") }), nil, pdf, http.StatusForbidden},
		{"expired", withQuery(func(q url.Values) { q.Set("expires", "1000") }), nil, pdf, http.StatusForbidden},
		{"another upload's id", func() presigned {
			c := p
			c.URL = strings.Replace(p.URL, p.ID, "stg_01JD4X0000000000000000000Z", 1)
			return c
		}(), nil, pdf, http.StatusForbidden},
		{"wrong content type", p, http.Header{"Content-Type": {"text/html"}}, pdf, http.StatusUnsupportedMediaType},
		{"oversize body", p, nil, append(append([]byte{}, pdf...), make([]byte, 1<<20)...), http.StatusRequestEntityTooLarge},
		{"short body", p, nil, pdf[:100], http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, msg := putBytes(t, srv.URL, c.p, c.header, c.body); code != c.status {
				t.Fatalf("PUT: %d %s (want %d)", code, msg, c.status)
			}
			if got := stagingObjects(t, srv); len(got) != 0 {
				t.Fatalf("staging objects: %v", got)
			}
		})
	}
	t.Run("body longer than its Content-Length", func(t *testing.T) {
		// A client that lies about its length: the server reads Content-Length bytes only (the
		// rest is not part of this request).
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: veil\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\n\r\n", p.URL, len(pdf))
		_, _ = conn.Write(append(append([]byte{}, pdf...), "trailing bytes that do not belong"...))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("raw PUT: %v %v", resp, err)
		}
		item, r := completeUpload(t, srv, p.ID, nil)
		if len(r.Errors) > 0 || item.SHA256 != hexSHA(pdf) {
			t.Fatalf("completeUpload: %s", r.Raw)
		}
	})
	t.Run("PUT after completion", func(t *testing.T) {
		if code, msg := putBytes(t, srv.URL, p, nil, pdf); code != http.StatusConflict {
			t.Fatalf("PUT: %d %s", code, msg)
		}
	})
}

// TestPresignedUploadS3: on S3 the URL is the bucket's own presigned PUT (the bytes never pass
// through Veil on the way in); the content type and length are signed, so S3 refuses others.
func TestPresignedUploadS3(t *testing.T) {
	storageURL, _ := veiltest.S3Bucket(t, "veil-presign-")
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: storageURL})
	endpoint := os.Getenv("VEIL_TEST_S3_ENDPOINT")
	jpg := readCorpus(t, "orientation/upright.jpg")
	pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")

	t.Run("image", func(t *testing.T) {
		presignedRoundTrip(t, srv, "IMAGE", "upright.jpg", "image/jpeg", jpg, false)
	})
	t.Run("document with sha256", func(t *testing.T) {
		presignedRoundTrip(t, srv, "DOCUMENT", "spec.pdf", "application/pdf", pdf, true)
	})
	t.Run("URL is the bucket's", func(t *testing.T) {
		p := mustCreateUpload(t, srv, map[string]any{"kind": "DOCUMENT", "filename": "spec.pdf", "size": len(pdf), "contentType": "application/pdf"})
		if !strings.HasPrefix(p.URL, endpoint+"/") {
			t.Fatalf("URL %s is not on %s", p.URL, endpoint)
		}
		if code, _ := putBytes(t, srv.URL, p, http.Header{"Content-Type": {"text/html"}}, pdf); code != http.StatusForbidden {
			t.Errorf("PUT with another Content-Type: %d, want 403", code)
		}
		if code, _ := putBytes(t, srv.URL, p, nil, pdf[:len(pdf)-1]); code < 400 {
			t.Errorf("PUT of another length: %d, want a refusal", code)
		}
		if got := stagingObjects(t, srv); len(got) != 0 {
			t.Fatalf("staging objects after refused PUTs: %v", got)
		}
	})
	t.Run("pixel bomb refused and removed", func(t *testing.T) {
		bomb := pngHeader(30000, 30000)
		p := mustCreateUpload(t, srv, map[string]any{"kind": "IMAGE", "filename": "bomb.png", "size": len(bomb), "contentType": "image/png"})
		mustPut(t, srv.URL, p, bomb)
		if _, r := completeUpload(t, srv, p.ID, nil); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("completeUpload: %s", r.Raw)
		}
		if got := stagingObjects(t, srv); len(got) != 0 {
			t.Fatalf("staging objects after a refusal: %v", got)
		}
	})
}

// TestPresignedUploadCompleteConcurrently: a second completeUpload while the first is storing the
// file is CONFLICT; once the first is done, completing again returns its item. Never two items.
func TestPresignedUploadCompleteConcurrently(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")
		p := mustCreateUpload(t, srv, map[string]any{"kind": "DOCUMENT", "filename": "spec.pdf", "size": len(pdf), "contentType": "application/pdf"})
		mustPut(t, srv.URL, p, pdf)

		reached, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		// The pause point before the final object is written (UploadDocument's "upload.write").
		srv.Media.CrashAt("upload.write", func() {
			once.Do(func() { close(reached); <-release })
		})
		first := make(chan completed, 1)
		go func() {
			item, r := completeUpload(t, srv, p.ID, nil)
			if len(r.Errors) > 0 {
				t.Errorf("first completeUpload: %s", r.Raw)
			}
			first <- item
		}()
		<-reached
		if _, r := completeUpload(t, srv, p.ID, nil); r.Code() != "CONFLICT" {
			t.Errorf("completeUpload during the first: %s", r.Raw)
		}
		close(release)
		item := <-first
		again, r := completeUpload(t, srv, p.ID, nil)
		if len(r.Errors) > 0 || again.ID != item.ID || item.ID == "" {
			t.Fatalf("completeUpload after the first: %+v %s (first gave %+v)", again, r.Raw, item)
		}
		if n := srv.RowCounts(t); n["documents"] != 1 {
			t.Fatalf("rows: %v", n)
		}
	})
}
