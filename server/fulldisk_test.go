package server_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gocloud.dev/gcerrors"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// TestWriteFailuresAreStorageUnavailable: a write the bucket refuses part-way — a full disk
// (ENOSPC), a quota (EDQUOT), a read-only mount (EROFS), an I/O error (EIO), an S3 5xx or
// throttling — answers an upload with STORAGE_UNAVAILABLE, HTTP 503 and Retry-After, and a new
// rendition with 503 and Retry-After; no object and no row remain.
func TestWriteFailuresAreStorageUnavailable(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		var faults *veiltest.FaultyBucket
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{WrapStore: func(s *storage.Store) *storage.Store {
			st, f := veiltest.NewFaultyStore(s)
			faults = f
			return st
		}})
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
		before, rows := srv.Objects(t), srv.RowCounts(t)
		for _, c := range []struct {
			name string
			err  error
		}{
			{"ENOSPC", &os.PathError{Op: "write", Path: "x.tmp", Err: syscall.ENOSPC}},
			{"EDQUOT", &os.PathError{Op: "write", Path: "x.tmp", Err: syscall.EDQUOT}},
			{"EROFS", &os.PathError{Op: "write", Path: "x.tmp", Err: syscall.EROFS}},
			{"EIO", &os.PathError{Op: "write", Path: "x.tmp", Err: syscall.EIO}},
			{"s3-5xx", veiltest.BucketError{Code: gcerrors.Internal}},
			{"s3-throttled", veiltest.BucketError{Code: gcerrors.ResourceExhausted}},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, after := range []int64{0, 64 << 10} {
					faults.FailWrites(c.err, after, nil)
					r := srv.Upload(veiltest.UploadDocumentMutation, nil, veiltest.FilePart(t, veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf")))
					if r.Code() != "STORAGE_UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
						t.Errorf("upload failing after %d bytes: %d %v %s", after, r.Status, r.Header, r.Raw)
					}
					// A rendition of a few KiB fails at its first byte or its second KiB.
					faults.FailWrites(c.err, after>>6, nil)
					spec := fmt.Sprintf("width-%d", 100+after%997+int64(len(c.name)))
					url := renditionOf(t, srv, img.ID, spec).URL
					resp, body := srv.Get(t, url, nil)
					if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
						t.Errorf("rendition failing after %d bytes: %d %v %.200q", after>>6, resp.StatusCode, resp.Header, body)
					}
					faults.FailWrites(nil, 0, nil)
				}
				if after := srv.Objects(t); strings.Join(after, ",") != strings.Join(before, ",") {
					t.Errorf("objects left: %v → %v", before, after)
				}
				if after := srv.RowCounts(t); fmt.Sprint(after) != fmt.Sprint(rows) {
					t.Errorf("rows left: %v → %v", rows, after)
				}
				assertNoTempFiles(t, srv.Store.Dir)
			})
		}
		if faults.Failed() == 0 {
			t.Fatal("no write was failed by injection")
		}
		// Space again: the same upload works.
		srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf")), nil)
	})
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	if dir == "" {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tmp") {
			t.Errorf("partial file left: %s", p)
		}
		return nil
	})
}

// TestFullTmpfsIsStorageUnavailable fills a real 2 MiB tmpfs: an upload larger than the space left
// is STORAGE_UNAVAILABLE / 503 with Retry-After and leaves no partial file and no row. It needs
// root and a kernel that lets it mount tmpfs; elsewhere it is skipped (the fault-injecting bucket
// above covers the same path).
func TestFullTmpfsIsStorageUnavailable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	db := veiltest.SQLite(t) // the database lives elsewhere: only the bucket is full
	srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: "file://" + filepath.Join(dir, "media")})
	srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/FreshFlower.jpg")), nil)
	// Leave about 100 KiB free.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, max(free-100<<10, 0)), 0o600); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	before, rows := srv.Objects(t), srv.RowCounts(t)
	r := srv.Upload(veiltest.UploadImageMutation, nil, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Wood.jpg")))
	if r.Code() != "STORAGE_UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("upload onto a full tmpfs: %d %v %s", r.Status, r.Header, r.Raw)
	}
	if after := srv.Objects(t); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("objects left: %v → %v", before, after)
	}
	if after := srv.RowCounts(t); fmt.Sprint(after) != fmt.Sprint(rows) {
		t.Errorf("rows left: %v → %v", rows, after)
	}
	assertNoTempFiles(t, dir)
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Wood.jpg")), nil)
}
