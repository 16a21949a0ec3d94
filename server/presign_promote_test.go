package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// Completing a presigned upload does not write its bytes a second time: once the checks have read
// the staged object, on a folder bucket that very file is hard-linked to the final key, and on S3
// a server-side copy of it (CopyObject), which no presigned URL can write, is read and then copied
// to the final key.

// randomText is n bytes of printable random text (a document type Veil accepts).
func randomText(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return []byte(hex.EncodeToString(b)[:n])
}

func documentKey(t *testing.T, db *models.DB, id string) string {
	t.Helper()
	var key string
	if err := db.NewSelect().Table("documents").Column("storage_key").Where("id = ?", id).Scan(context.Background(), &key); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestPresignedCompletionLinksTheStagedFile: on a folder bucket the final file is the staged file
// (same inode), the staging name is gone and the bytes are identical; and a file put over the
// staging name while the completion runs (an earlier PUT finishing late) is not the one that
// becomes the document: the checked one is.
func TestPresignedCompletionLinksTheStagedFile(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		ctx := context.Background()
		body := randomText(t, 3<<20)
		in := map[string]any{"kind": "DOCUMENT", "filename": "notes.txt", "size": len(body), "contentType": "text/plain"}

		p := mustCreateUpload(t, srv, in)
		mustPut(t, srv.URL, p, body)
		staged, err := os.Stat(filepath.Join(srv.Store.Dir, storage.StagingKey(p.ID)))
		if err != nil {
			t.Fatal(err)
		}
		item, r := completeUpload(t, srv, p.ID, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("completeUpload: %s", r.Raw)
		}
		final, err := os.Stat(filepath.Join(srv.Store.Dir, filepath.FromSlash(documentKey(t, db, item.ID))))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(staged, final) {
			t.Errorf("the document's file is a new file, not the staged one: its bytes were written again")
		}
		if got := stagingObjects(t, srv); len(got) != 0 {
			t.Fatalf("staging objects left: %v", got)
		}
		if resp, got := srv.Get(t, item.URL, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
			t.Fatalf("GET %s: %d, %d bytes, not the %d sent", item.URL, resp.StatusCode, len(got), len(body))
		}

		// Other bytes replace the staging file after the checks began: the checked ones are kept.
		p = mustCreateUpload(t, srv, in)
		body = randomText(t, 3<<20)
		mustPut(t, srv.URL, p, body)
		var once sync.Once
		srv.Media.CrashAt("upload.write", func() {
			once.Do(func() {
				other := randomText(t, len(body))
				if _, err := srv.Store.Write(ctx, storage.StagingKey(p.ID), "text/plain", bytes.NewReader(other)); err != nil {
					t.Error(err)
				}
			})
		})
		item, r = completeUpload(t, srv, p.ID, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("completeUpload: %s", r.Raw)
		}
		if resp, got := srv.Get(t, item.URL, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) || item.SHA256 != hexSHA(body) {
			t.Fatalf("GET %s: %d; the document is not the bytes that were checked", item.URL, resp.StatusCode)
		}
	})
}

// TestPresignedCompletionCopiesOnS3: on S3 the final object is a server-side copy of the staged
// one — the completion succeeds while every write of a document through Veil fails — with the
// staged object's ETag, and the staging objects are gone. An object PUT to the staging key while the checks
// read the first is not what gets stored: the checked bytes are.
func TestPresignedCompletionCopiesOnS3(t *testing.T) {
	storageURL, _ := veiltest.S3Bucket(t, "veil-promote-")
	db := veiltest.SQLite(t)
	var faulty *veiltest.FaultyBucket
	srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: storageURL, WrapStore: func(s *storage.Store) *storage.Store {
		st, f := veiltest.NewFaultyStore(s)
		faulty = f
		return st
	}})
	ctx := context.Background()
	body := randomText(t, 12<<20)
	in := map[string]any{"kind": "DOCUMENT", "filename": "notes.txt", "size": len(body), "contentType": "text/plain"}

	p := mustCreateUpload(t, srv, in)
	mustPut(t, srv.URL, p, body)
	staged, err := srv.Store.Bucket.Attributes(ctx, storage.StagingKey(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	// Veil may not write documents: the completion must not need to.
	faulty.FailWrites(errors.New("injected: writes of documents through Veil"), 0, func(key string) bool { return strings.HasPrefix(key, "documents/") })
	item, r := completeUpload(t, srv, p.ID, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("completeUpload with writes of documents through Veil failing: %s", r.Raw)
	}
	faulty.FailWrites(nil, 0, nil)
	final, err := srv.Store.Bucket.Attributes(ctx, documentKey(t, db, item.ID))
	if err != nil {
		t.Fatal(err)
	}
	if final.ETag != staged.ETag || final.Size != int64(len(body)) {
		t.Errorf("final object ETag %s, %d bytes; staged ETag %s", final.ETag, final.Size, staged.ETag)
	}
	if got := stagingObjects(t, srv); len(got) != 0 {
		t.Fatalf("staging objects left: %v", got)
	}
	if resp, got := srv.Get(t, item.URL, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET %s: %d, %d bytes, not the %d sent", item.URL, resp.StatusCode, len(got), len(body))
	}

	p = mustCreateUpload(t, srv, in)
	body = randomText(t, 12<<20)
	mustPut(t, srv.URL, p, body)
	other := randomText(t, len(body))
	var once sync.Once
	srv.Media.CrashAt("upload.write", func() {
		once.Do(func() {
			if _, err := srv.Store.Write(ctx, storage.StagingKey(p.ID), "text/plain", bytes.NewReader(other)); err != nil {
				t.Error(err)
			}
		})
	})
	item, r = completeUpload(t, srv, p.ID, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("completeUpload: %s", r.Raw)
	}
	if _, got := srv.Get(t, item.URL, nil); !bytes.Equal(got, body) || item.SHA256 != hexSHA(body) {
		t.Fatalf("the document is not the bytes that were checked (it is the replacement: %v)", bytes.Equal(got, other))
	}
	if got := stagingObjects(t, srv); len(got) != 0 {
		t.Fatalf("staging objects left: %v", got)
	}
}
