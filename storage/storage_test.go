package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/storage"
)

func TestSafeName(t *testing.T) {
	for _, c := range []struct{ in, ext, want string }{
		{"Photo 1.JPG", "jpg", "Photo-1.jpg"},
		{"../../etc/passwd", "png", "passwd.png"},
		{`..\..\win.ini`, "txt", "win.txt"},
		{"a\x00b.jpg", "jpg", "a-b.jpg"},
		{"photo\u202egpj.exe", "jpg", "photo-gpj.jpg"},
		{"", "pdf", "file.pdf"},
		{"...", "pdf", "file.pdf"},
		{"Élan vital.odt", "odt", "Élan-vital.odt"},
		{strings.Repeat("x", 300) + ".jpg", "jpg", strings.Repeat("x", 100) + ".jpg"},
	} {
		if got := storage.SafeName(c.in, c.ext); got != c.want {
			t.Errorf("SafeName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []string{"", "ftp://x", "file://remotehost/x", "file://", "::"} {
		var fe *config.FieldError // the field; package app names it VEIL_STORAGE_URL
		if err := (storage.Config{URL: bad}).Validate(); !errors.As(err, &fe) || fe.Field != "URL" {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, good := range []string{"file:///tmp/x", "file://./data/media", "file:data/media", "mem://", "s3://b?region=us-east-1", "gs://b", "azblob://c"} {
		if err := (storage.Config{URL: good}).Validate(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	if err := (storage.Config{URL: "mem://", DirMode: 0o600}).Validate(); err == nil {
		t.Error("a dir mode without x for the owner was accepted")
	}
}

func TestOpenCreatesFolderWithModeAndProbes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "media")
	s, err := storage.Open(context.Background(), storage.Config{URL: "file://" + dir, DirMode: 0o700})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v %v", fi, err)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The probe keeps the prefix folders it proved writable (empty), and nothing else.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		inside, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		fi, _ := e.Info()
		if !e.IsDir() || !slices.Contains(storage.Prefixes, e.Name()+"/") || len(inside) != 0 || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("probe left %s (mode %v, %d entries)", e.Name(), fi.Mode(), len(inside))
		}
	}
}

func TestWriteAbortsOnReaderError(t *testing.T) {
	for _, url := range []string{"mem://", "file://" + t.TempDir()} {
		s, err := storage.Open(context.Background(), storage.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("client went away")
		r := iotest.TimeoutReader(bytes.NewReader(make([]byte, 3<<20))) // second read fails
		_, err = s.Write(context.Background(), "originals/x/y.jpg", "image/jpeg", &errAfter{r: r, err: boom})
		if err == nil {
			t.Fatalf("%s: no error", url)
		}
		if ok, _ := s.Bucket.Exists(context.Background(), "originals/x/y.jpg"); ok {
			t.Errorf("%s: partial object was kept", url)
		}
		n, err := s.Write(context.Background(), "originals/x/z.jpg", "image/jpeg", bytes.NewReader(make([]byte, 3<<20+5)))
		if err != nil || n != 3<<20+5 {
			t.Errorf("%s: write = %d, %v", url, n, err)
		}
		if err := s.Delete(context.Background(), "originals/x/z.jpg"); err != nil {
			t.Error(err)
		}
		if err := s.Delete(context.Background(), "originals/x/missing.jpg"); err != nil {
			t.Errorf("deleting a missing object: %v", err)
		}
		if strings.HasPrefix(url, "file://") {
			// The prefix folder stays (as the probe leaves it: a read-only top folder could not
			// make it again); the emptied folder below it goes.
			if entries, _ := os.ReadDir(filepath.Join(s.Dir, "originals")); len(entries) != 0 {
				t.Errorf("empty folders left: %v", entries)
			}
		}
		s.Close()
	}
}

type errAfter struct {
	r   interface{ Read([]byte) (int, error) }
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		return n, e.err
	}
	return n, nil
}

func TestClassify(t *testing.T) {
	s, _ := storage.Open(context.Background(), storage.Config{URL: "mem://"})
	defer s.Close()
	_, err := s.Bucket.NewReader(context.Background(), "nope", nil)
	if c := storage.Classify(err); !errors.Is(c, storage.ErrNotFound) {
		t.Errorf("missing object: %v", c)
	}
	if c := storage.Classify(errors.New("disk on fire")); !errors.Is(c, storage.ErrUnavailable) {
		t.Errorf("other error: %v", c)
	}
	if c := storage.Classify(context.Canceled); !errors.Is(c, context.Canceled) || errors.Is(c, storage.ErrUnavailable) {
		t.Errorf("cancel: %v", c)
	}
}

// TestFileWriteBornPrivate (issue 14, item 2): a file written to a folder bucket is private (0600)
// from its first byte, so it is never readable by others before its permission is set.
func TestFileWriteBornPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "media")
	store, err := storage.Open(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Write(context.Background(), "renditions/img_A/r.jpg", "image/jpeg", strings.NewReader("pixels")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "renditions", "img_A", "r.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestOpenReadsWhatWasWritten: Open returns the object's bytes and size on a folder bucket (the
// file itself) and on mem://, ErrNotFound for a missing key and for a folder, and keys that
// fileblob escapes on disk (a "//", a "..") still read through the bucket.
func TestOpenReadsWhatWasWritten(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"file://" + filepath.ToSlash(t.TempDir()), "mem://"} {
		st, err := storage.Open(ctx, storage.Config{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, key := range []string{"originals/ab/cd/photo.jpg", "odd//key", "odd/..x/y"} {
			want := []byte("bytes of " + key)
			if _, err := st.Write(ctx, key, "application/octet-stream", bytes.NewReader(want)); err != nil {
				t.Fatalf("%s: write %s: %v", u, key, err)
			}
			body, size, err := st.Open(ctx, key)
			if err != nil {
				t.Fatalf("%s: open %s: %v", u, key, err)
			}
			got, _ := io.ReadAll(body)
			body.Close()
			if size != int64(len(want)) || !bytes.Equal(got, want) {
				t.Errorf("%s: %s: %d bytes %q, want %d %q", u, key, size, got, len(want), want)
			}
			if st.Dir != "" && key == "originals/ab/cd/photo.jpg" {
				if _, ok := body.(*os.File); !ok {
					t.Errorf("%s: %s opened as %T, want the file (sendfile)", u, key, body)
				}
			}
		}
		for _, key := range []string{"originals/missing.jpg", "originals/ab"} {
			if _, _, err := st.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: open %s: %v, want ErrNotFound", u, key, err)
			}
		}
	}
}

// stallingReader gives size bytes of pattern, but its first Read at or past stallAt first reports
// on reached and waits for release, then returns fail (nil: carries on).
type stallingReader struct {
	size, off, stallAt int64
	reached, release   chan struct{}
	fail               error
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if r.off >= r.stallAt && r.reached != nil {
		close(r.reached)
		r.reached = nil
		<-r.release
		if r.fail != nil {
			return 0, r.fail
		}
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-r.off))
	for i := range p[:n] {
		p[i] = byte((r.off + int64(i)) % 251)
	}
	r.off += int64(n)
	return n, nil
}

// TestWriteFileInterruptedLeavesNothing: while a folder bucket's file is written, a 0600 temporary
// file beside the key holds the bytes and the key does not exist; a source that fails mid-body, or
// a context cancelled before the end, leaves neither the object nor the temporary file. The
// source's failure is io.ErrUnexpectedEOF, as a multipart part reports a connection closed before
// its boundary: io.ReadFull used to take it for a short last chunk and store the truncated object.
func TestWriteFileInterruptedLeavesNothing(t *testing.T) {
	const key = "originals/ab/cd/big.pdf"
	for _, c := range []struct {
		name   string
		fail   error // of the source at 2 MiB
		cancel bool  // cancel the context at 2 MiB (the source then ends normally)
	}{
		{"source fails", io.ErrUnexpectedEOF, false},
		{"context cancelled", nil, true},
		{"completes", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := storage.Open(context.Background(), storage.Config{URL: "file://" + filepath.ToSlash(dir)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &stallingReader{size: 5 << 20, stallAt: 2 << 20, reached: make(chan struct{}), release: make(chan struct{}), fail: c.fail}
			reached := r.reached
			type result struct {
				n   int64
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := st.Write(ctx, key, "application/pdf", r)
				done <- result{n, err}
			}()
			<-reached // the first 2 MiB were written: the loop reads only after writing
			tmps, _ := filepath.Glob(filepath.Join(dir, "originals", "ab", "cd", "big.pdf.*.tmp"))
			if len(tmps) != 1 {
				t.Fatalf("temporary files mid-write: %v", tmps)
			}
			fi, err := os.Stat(tmps[0])
			if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 1<<20 {
				t.Errorf("temporary file mid-write: %v %v", fi, err)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the key exists before the write ended: %v", err)
			}
			if c.cancel {
				cancel()
			}
			close(r.release)
			res := <-done
			left, _ := filepath.Glob(filepath.Join(dir, "originals", "ab", "cd", "*"))
			if c.fail == nil && !c.cancel {
				fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
				if res.err != nil || res.n != 5<<20 || err != nil || fi.Size() != 5<<20 || fi.Mode().Perm() != 0o600 || len(left) != 1 {
					t.Fatalf("complete write: %d %v; %v %v; folder %v", res.n, res.err, fi, err, left)
				}
				return
			}
			if res.err == nil {
				t.Fatalf("interrupted write succeeded (%d bytes)", res.n)
			}
			if errors.Is(res.err, storage.ErrUnavailable) {
				t.Errorf("an error of the source or the caller is not a storage failure: %v", res.err)
			}
			if len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
