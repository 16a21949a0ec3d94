package server_test

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// breakBucket makes the folder bucket fail for real, even for root (which ignores modes): the
// folder is moved away and a regular file put at its path, so every operation gets ENOTDIR.
// It returns a function that restores it.
func breakBucket(t *testing.T, dir string) func() {
	t.Helper()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = os.Remove(dir)
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStorageFailsMidRun: while the bucket fails, uploads are STORAGE_UNAVAILABLE with a request
// id (never FORBIDDEN) and leave no row, serve views answer 503 with the request id and
// Retry-After (never 403), /readyz says storage is down; once it is back everything works.
func TestStorageFailsMidRun(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
		restore := breakBucket(t, srv.Store.Dir)
		rows := srv.RowCounts(t)

		r := srv.Upload(veiltest.UploadImageMutation, nil, veiltest.FilePart(t, veiltest.Corpus(t, "photos/LadyBird.jpg")))
		if r.Code() != "STORAGE_UNAVAILABLE" || r.Errors[0].Extensions["requestId"] == nil || strings.Contains(string(r.Raw), "FORBIDDEN") {
			t.Errorf("upload while storage is down: %s", r.Raw)
		}
		if after := srv.RowCounts(t); after["images"] != rows["images"] {
			t.Errorf("a row was left: %v → %v", rows, after)
		}
		resp, body := srv.Get(t, img.URL, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!bytes.Contains(body, []byte(resp.Header.Get("X-Request-ID"))) {
			t.Errorf("serve while storage is down: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		if !strings.Contains(srv.Logs.String(), resp.Header.Get("X-Request-ID")) {
			t.Error("the cause was not logged with the request id")
		}
		resp, body = srv.Get(t, "/readyz", nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"database":"ok"`)) || bytes.Contains(body, []byte(`"storage":"ok"`)) {
			t.Errorf("readyz while storage is down: %d %s", resp.StatusCode, body)
		}

		restore()
		if resp, _ := srv.Get(t, img.URL, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("serve after restore: %d", resp.StatusCode)
		}
		srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/LadyBird.jpg")), nil)
		if objs := srv.Objects(t); len(objs) != 2 {
			t.Errorf("objects after restore: %v (an orphan from the failed upload?)", objs)
		}
	})
}

// TestMissingOriginalIs410: a file deleted from the bucket behind Veil's back answers 410.
func TestMissingOriginalIs410(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	doc := srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/styles.odt")), nil)
	for _, k := range srv.Objects(t) {
		if err := srv.Store.Delete(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	if resp, body := srv.Get(t, doc.URL, nil); resp.StatusCode != http.StatusGone {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
