package media_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// reconcileDrivers runs fn on a folder bucket, a memory bucket and, when VEIL_TEST_S3_ENDPOINT is
// set, an S3 bucket, each on SQLite and (when set) Postgres.
func reconcileDrivers(t *testing.T, fn func(t *testing.T, srv *veiltest.Server)) {
	t.Run("file", func(t *testing.T) {
		veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
			fn(t, veiltest.NewServer(t, db, nil))
		})
	})
	t.Run("mem", func(t *testing.T) {
		veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
			fn(t, veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: "mem://"}))
		})
	})
	t.Run("s3", func(t *testing.T) {
		if os.Getenv(veiltest.S3Env) == "" || os.Getenv("AWS_ACCESS_KEY_ID") == "" {
			t.Skip("VEIL_TEST_S3_ENDPOINT and AWS credentials are not set (see tools/s3-radosgw)")
		}
		veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
			storageURL, _ := veiltest.S3Bucket(t, "veil-reconcile-")
			fn(t, veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: storageURL}))
		})
	})
}

// allKeys lists every object of the bucket, probes and partial files included.
func allKeys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var keys []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

// crashAt runs upload on its own goroutine and ends that goroutine at the hook point, as if the
// process died there: nothing after the point runs, no cleanup included.
func crashAt(t *testing.T, svc *media.Service, point string, upload func() error) {
	t.Helper()
	media.SetTestHook(svc, func(p, _ string) {
		if p == point {
			runtime.Goexit()
		}
	})
	defer media.SetTestHook(svc, nil)
	done := make(chan error, 1)
	go func() {
		defer close(done)
		done <- upload()
	}()
	if err, finished := <-done; finished {
		t.Fatalf("upload was not cut off at %s: %v", point, err)
	}
}

func fileOf(t *testing.T, rel string) media.File {
	f, err := os.Open(veiltest.Corpus(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return media.File{Filename: filepath.Base(rel), Body: f}
}

// TestReconcileAfterCrashes: uploads cut off between the object write and the row insert, or
// between the pending record and the first byte, a partial .tmp file, an orphan rendition and a
// probe leftover are all removed by Reconcile (grace 0; a dry run and a long grace remove nothing),
// a row whose object vanished is reported, a rendition row without object is removed, objects
// outside Veil's prefixes are untouched, and every acknowledged upload is intact.
func TestReconcileAfterCrashes(t *testing.T) {
	reconcileDrivers(t, func(t *testing.T, srv *veiltest.Server) {
		ctx := auth.WithViewer(context.Background(), auth.System)
		svc, store := srv.Media, srv.Store
		doc := srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/styles.odt")), nil)
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/FreshFlower.jpg")), nil)
		gone := srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf")), nil)
		kept, lost := renditionURL(t, srv, img.ID, "width-100"), renditionURL(t, srv, img.ID, "width-120")
		for _, u := range []string{kept, lost} {
			if resp, _ := srv.Get(t, u, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("rendition %s: %d", u, resp.StatusCode)
			}
		}
		keyOf := func(table, id string) string {
			var k string
			if err := srv.DB.NewSelect().Table(table).Column("storage_key").Where("id = ?", id).Scan(ctx, &k); err != nil {
				t.Fatal(err)
			}
			return k
		}
		var lostKey string
		if err := srv.DB.NewSelect().Table("renditions").Column("storage_key").Where("image_id = ? AND spec = ?", img.ID, "width-120").Scan(ctx, &lostKey); err != nil {
			t.Fatal(err)
		}
		goneKey := keyOf("documents", gone.ID)
		for _, k := range []string{lostKey, goneKey} {
			if err := store.Bucket.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		acknowledged := allKeys(t, store.Bucket)

		var debris []string
		crashAt(t, svc, "upload.insert", func() error {
			_, err := svc.UploadDocument(ctx, media.UploadDocumentInput{File: fileOf(t, "documents/shared-mime-info-spec.pdf")})
			return err
		})
		crashAt(t, svc, "upload.insert", func() error {
			_, err := svc.UploadImage(ctx, media.UploadImageInput{File: fileOf(t, "photos/Garden.jpg")})
			return err
		})
		crashAt(t, svc, "upload.write", func() error { // dies before its first byte
			_, err := svc.UploadImage(ctx, media.UploadImageInput{File: fileOf(t, "photos/Wood.jpg")})
			return err
		})
		for _, k := range allKeys(t, store.Bucket) {
			if !slices.Contains(acknowledged, k) {
				debris = append(debris, k)
			}
		}
		if len(debris) != 2 {
			t.Fatalf("crashed uploads left %v, want 2 objects", debris)
		}
		write := func(key string) {
			if _, err := store.Write(ctx, key, "application/octet-stream", strings.NewReader("debris "+key)); err != nil {
				t.Fatal(err)
			}
		}
		orphanRendition := "renditions/" + img.ID + "/0123456789abcdef01234567.jpg"
		probe := "originals/.veil-probe-0123456789abcdef"
		write(orphanRendition)
		write(probe)
		write("elsewhere/readme.txt") // not Veil's: never touched
		debris = append(debris, orphanRendition, probe)
		if store.Dir != "" {
			partial := "originals/img_01M8TMP0000000000000000000/Wood.jpg.18f3a9c2b4d5e6f7.tmp"
			p := filepath.Join(store.Dir, filepath.FromSlash(partial))
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("half a jpeg"), 0o600); err != nil {
				t.Fatal(err)
			}
			debris = append(debris, partial)
		}
		sort.Strings(debris)
		pending := func() int {
			n, err := srv.DB.NewSelect().Model((*models.PendingObject)(nil)).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := pending(); n != 3 {
			t.Fatalf("pending upload records after three crashes: %d", n)
		}
		all := allKeys(t, store.Bucket)

		// A long grace: everything is too young to judge.
		rep, err := svc.Reconcile(ctx, media.ReconcileOptions{Grace: media.DefaultReconcileGrace})
		if err != nil || len(rep.Orphans) != 0 || rep.StalePending != 0 || len(rep.Missing) != 0 || rep.RenditionRowsRemoved != 0 {
			t.Fatalf("reconcile with a 1h grace: %+v %v", rep, err)
		}
		// A dry run reports and changes nothing.
		rep, err = svc.Reconcile(ctx, media.ReconcileOptions{DryRun: true})
		if err != nil || strings.Join(sorted(rep.Orphans), ",") != strings.Join(debris, ",") || len(rep.Missing) != 1 || rep.RenditionRowsRemoved != 1 {
			t.Fatalf("dry run: %+v %v\nwant orphans %v", rep, err, debris)
		}
		if now := allKeys(t, store.Bucket); strings.Join(now, ",") != strings.Join(all, ",") || pending() != 3 {
			t.Fatalf("a dry run changed the bucket or the records: %v → %v", all, now)
		}

		// Grace 0, listing two objects a page.
		rep, err = svc.Reconcile(ctx, media.ReconcileOptions{PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(sorted(rep.Orphans), ",") != strings.Join(debris, ",") || rep.Probes != 1 {
			t.Errorf("orphans %v (probes %d), want %v", rep.Orphans, rep.Probes, debris)
		}
		if rep.StalePending != 3 || pending() != 0 {
			t.Errorf("stale pending %d, left %d; want 3 cleared", rep.StalePending, pending())
		}
		if len(rep.Missing) != 1 || rep.Missing[0] != (media.MissingObject{Table: "documents", ID: gone.ID, Key: goneKey}) {
			t.Errorf("missing %+v, want the document whose object was deleted", rep.Missing)
		}
		if rep.RenditionRowsRemoved != 1 || rep.Foreign != 1 {
			t.Errorf("rendition rows removed %d, foreign %d", rep.RenditionRowsRemoved, rep.Foreign)
		}
		want := append(slices.Clone(acknowledged), "elsewhere/readme.txt")
		sort.Strings(want)
		if now := allKeys(t, store.Bucket); strings.Join(now, ",") != strings.Join(want, ",") {
			t.Errorf("objects after reconcile: %v\nwant %v", now, want)
		}
		for _, u := range []string{img.URL, doc.URL, kept, lost} { // the lost rendition is made again
			if resp, _ := srv.Get(t, u, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s after reconcile: %d", u, resp.StatusCode)
			}
		}
		// Idempotent: nothing more to remove; the missing object is reported again.
		rep, err = svc.Reconcile(ctx, media.ReconcileOptions{})
		if err != nil || len(rep.Orphans) != 0 || rep.StalePending != 0 || len(rep.Missing) != 1 {
			t.Errorf("second reconcile: %+v %v", rep, err)
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func renditionURL(t *testing.T, srv *veiltest.Server, id, spec string) string {
	t.Helper()
	var out struct {
		Image struct{ Rendition struct{ URL string } }
	}
	srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`, map[string]any{"id": id, "s": spec}).Decode(t, &out)
	return out.Image.Rendition.URL
}
