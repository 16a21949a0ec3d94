package server_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// TestInterruptedDocumentUploadLeavesNothing (issue 16, item 3): a client that closes its
// connection in the middle of a document's bytes (the part's closing boundary never comes) leaves
// no object, no partial file, no row and no pending record, whether the cut falls inside the
// sniffed head, on a chunk boundary of the write or inside a later chunk. It guards writes to a
// folder bucket against interrupted bodies, on both databases.
func TestInterruptedDocumentUploadLeavesNothing(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		handled := make(chan struct{}, 1)
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(w, r)
				if r.URL.Path == "/graphql" && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
					handled <- struct{}{}
				}
			})
		}})
		objects, rows := srv.Objects(t), srv.RowCounts(t)
		for _, cut := range []int{40 << 10, 1 << 20, 3<<20 + 777} {
			t.Run(fmt.Sprint(cut), func(t *testing.T) {
				head, file := documentRequest(t, cut+(1<<20))
				conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				u, _ := url.Parse(srv.URL)
				fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
					u.Host, srv.Token, head.contentType, len(head.body)+len(file))
				if _, err := conn.Write(append(head.body, file[:cut]...)); err != nil {
					t.Fatal(err)
				}
				conn.Close()
				<-handled // the server is through with the request
				if after := srv.Objects(t); strings.Join(after, ",") != strings.Join(objects, ",") {
					t.Errorf("objects: %v → %v", objects, after)
				}
				if after := srv.RowCounts(t); fmt.Sprint(after) != fmt.Sprint(rows) {
					t.Errorf("rows: %v → %v", rows, after)
				}
				if n, err := srv.DB.NewSelect().Model((*models.PendingObject)(nil)).Count(context.Background()); err != nil || n != 0 {
					t.Errorf("pending records: %d %v", n, err)
				}
				assertNoTempFiles(t, srv.Store.Dir)
			})
		}
		// The same server takes a complete document.
		head, file := documentRequest(t, 2<<20)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(append(append(head.body, file...), head.tail...)))
		req.Header.Set("Content-Type", head.contentType)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		if r := srv.Do(req); r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), fmt.Sprintf(`"fileSize":%d`, len(file))) {
			t.Fatalf("complete upload: %d %s", r.Status, r.Raw)
		}
		<-handled
	})
}

type multipartHead struct {
	contentType string
	body, tail  []byte // up to the file's first byte; after its last
}

// documentRequest is an uploadDocument request split around its file: size bytes of a PDF.
func documentRequest(t *testing.T, size int) (multipartHead, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id fileSize } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="0"; filename="big.pdf"`)
	h.Set("Content-Type", "application/pdf")
	if _, err := mw.CreatePart(h); err != nil {
		t.Fatal(err)
	}
	head := append([]byte(nil), buf.Bytes()...)
	buf.Reset()
	_ = mw.Close()
	file := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	copy(file, "%PDF-1.7\n")
	return multipartHead{contentType: mw.FormDataContentType(), body: head, tail: append([]byte(nil), buf.Bytes()...)}, file
}
