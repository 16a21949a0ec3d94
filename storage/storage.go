package storage

import (
	"io/fs"

	"github.com/veil-media/veil/config"

	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob" // gs://
	_ "gocloud.dev/blob/memblob" // mem://
	_ "gocloud.dev/blob/s3blob"  // s3://
	"gocloud.dev/gcerrors"
)

// ErrUnavailable marks a failure of the storage itself (unreachable, refused, full, read-only,
// failing, throttling, too slow). Callers map it to STORAGE_UNAVAILABLE / HTTP 503 with
// Retry-After, never to FORBIDDEN or INTERNAL.
var ErrUnavailable = errors.New("storage unavailable")

// ErrNotFound marks an object that does not exist in the bucket.
var ErrNotFound = errors.New("object not found")

// Classify wraps an error of a bucket operation with ErrNotFound or ErrUnavailable so callers can
// switch on errors.Is. It decides by type, never by message: gocloud's code NotFound is ErrNotFound; a cancelled ctx (the caller went away) passes through
// unchanged; everything else the bucket answers is a failure of the storage — ENOSPC, EDQUOT,
// EROFS, EIO and other errnos of a folder, S3 and GCS 5xx and throttling (gocloud's Internal,
// Unavailable, ResourceExhausted, DeadlineExceeded codes), refused credentials, and a call that ran
// out of time (context.DeadlineExceeded, kept in the chain). Nil stays nil.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, context.Canceled):
		return err
	case gcerrors.Code(err) == gcerrors.NotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// Config says where media bytes live.
type Config struct {
	// URL is a gocloud blob URL: file:///abs/path, file://./relative/path, mem://, s3://bucket?…,
	// gs://bucket, azblob://container.
	URL string
	// DirMode is the mode of folders Veil creates for a file:// bucket (default 0750).
	DirMode os.FileMode
}

// Validate reports a configuration error naming VEIL_STORAGE_URL.
func (c Config) Validate() error {
	if _, err := parseURL(c.URL); err != nil {
		return config.Errorf("URL", "%v", err)
	}
	if c.DirMode != 0 && c.DirMode&0o700 != 0o700 {
		return config.Errorf("DirMode", "%#o does not let Veil itself read, write and enter its folders (needs 0700 at least)", c.DirMode)
	}
	return nil
}

func (c Config) dirMode() os.FileMode {
	if c.DirMode == 0 {
		return 0o750
	}
	return c.DirMode
}

type location struct {
	scheme string
	dir    string // absolute folder, for file://
}

func parseURL(raw string) (location, error) {
	if raw == "" {
		return location{}, errors.New("is empty; use file:///path, mem://, s3://, gs:// or azblob://")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return location{}, fmt.Errorf("is not a URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		p := u.Path
		switch {
		case u.Opaque != "": // file:relative/path
			p = u.Opaque
		case u.Host == "." || u.Host == "..": // file://./relative/path
			p = u.Host + u.Path
		case u.Host != "" && u.Host != "localhost":
			return location{}, fmt.Errorf("%q names host %q; use file:///absolute/path or file://./relative/path", raw, u.Host)
		}
		if p == "" {
			return location{}, fmt.Errorf("%q has no folder path", raw)
		}
		abs, err := filepath.Abs(filepath.FromSlash(p))
		if err != nil {
			return location{}, fmt.Errorf("%q: %w", raw, err)
		}
		return location{scheme: "file", dir: abs}, nil
	case "mem", "s3", "gs", "azblob":
		return location{scheme: u.Scheme}, nil
	default:
		return location{}, fmt.Errorf("%q has unsupported scheme %q; use file, mem, s3, gs or azblob", raw, u.Scheme)
	}
}

// Store is an open bucket with what Veil knows about where it is.
type Store struct {
	Bucket *blob.Bucket
	// Scheme is the URL scheme ("file", "mem", "s3", "gs", "azblob").
	Scheme string
	// Dir is the absolute folder of a file:// bucket, else empty.
	Dir string
	// BucketName is the bucket of an s3:// or gs:// URL, else empty.
	BucketName string
	// dirMode is the mode of folders Veil creates in a file:// bucket.
	dirMode os.FileMode
}

// Close closes the bucket.
func (s *Store) Close() error { return s.Bucket.Close() }

// Open opens the bucket named by cfg. For a file:// URL it creates the folder with cfg.DirMode
// (failure is a *Diagnosis). It does not probe; call Probe for that.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	loc, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("storage: VEIL_STORAGE_URL: %w", err)
	}
	if loc.scheme == "file" {
		if err := os.MkdirAll(loc.dir, cfg.dirMode()); err != nil {
			return nil, diagnoseDir(loc.dir, "create folder", err)
		}
		b, err := fileblob.OpenBucket(loc.dir, &fileblob.Options{
			DirFileMode: cfg.dirMode(),
			// Temp files beside the objects: os.TempDir may be another mount, where rename fails.
			NoTempDir: true,
			// No .attrs sidecar per object: Veil keeps the content type and sha256 in its database,
			// the sidecar's MD5 costs a fifth of an upload's CPU, and a web server serving the folder
			// directly should see only the files.
			Metadata: fileblob.MetadataDontWrite,
		})
		if err != nil {
			return nil, diagnoseDir(loc.dir, "open folder", err)
		}
		return &Store{Bucket: b, Scheme: "file", Dir: loc.dir, dirMode: cfg.dirMode()}, nil
	}
	b, err := blob.OpenBucket(ctx, cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", redact(cfg.URL), Classify(err))
	}
	st := &Store{Bucket: b, Scheme: loc.scheme}
	if u, err := url.Parse(cfg.URL); err == nil {
		st.BucketName = u.Host
	}
	return st, nil
}

// Write streams r to key with an explicit content type and returns the bytes written. The object
// exists only if Close succeeded; on any error the partial write is aborted.
func (s *Store) Write(ctx context.Context, key, contentType string, r io.Reader) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := &blob.WriterOptions{ContentType: contentType}
	if s.Scheme == "file" {
		// Born private: fileblob creates files 0666 &^ umask (world-readable), and the permission
		// driver may only tighten them after the write; no file is ever more open than its item.
		opts.BeforeWrite = func(as func(any) bool) error {
			var f *os.File
			if as(&f) {
				return f.Chmod(0o600)
			}
			return nil
		}
	}
	w, err := s.Bucket.NewWriter(wctx, key, opts)
	if err != nil {
		return 0, fmt.Errorf("storage: write %s: %w", key, Classify(err))
	}
	n, err := copyChunked(w, r)
	if err != nil {
		cancel() // aborts the write: gocloud discards an object whose context is cancelled
		_ = w.Close()
		var we *writeError
		if errors.As(err, &we) {
			// The bucket refused bytes (a full disk, a quota, a read-only mount, an I/O error, an
			// S3 part upload failing): a storage failure, unlike an error of the source r.
			return n, fmt.Errorf("storage: write %s: %w", key, Classify(we.err))
		}
		return n, fmt.Errorf("storage: write %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("storage: write %s: %w", key, Classify(err))
	}
	return n, nil
}

// Open opens key for reading and returns its size. On a file:// bucket it is the file itself (an
// *os.File), so that a response can hand it to the kernel (sendfile) and the open costs less than
// http.FileServer's: fileblob's reader would first stat the path and look for an attributes file
// beside it, and see openFile for what os.Open does on top. A missing object is ErrNotFound; the
// caller closes the body.
func (s *Store) Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if s.Dir != "" && plainKey(key) {
		f, size, err := openFile(filepath.Join(s.Dir, filepath.FromSlash(key)))
		switch {
		case err == nil:
			return f, size, nil
		case errors.Is(err, errNotRegular):
			return nil, 0, fmt.Errorf("storage: open %s: %w: not a regular file", key, ErrNotFound)
		case errors.Is(err, fs.ErrNotExist):
			return nil, 0, fmt.Errorf("storage: open %s: %w: %w", key, ErrNotFound, err)
		case isStatErr(err):
			return nil, 0, Classify(err)
		default:
			return nil, 0, fmt.Errorf("storage: open %s: %w: %w", key, ErrUnavailable, err)
		}
	}
	r, err := s.Bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("storage: open %s: %w", key, Classify(err))
	}
	return r, r.Size(), nil
}

// Exists reports whether key names an object, for an answer that needs no byte of it (a redirect
// to its direct URL): on a file:// bucket one stat of the file. Missing is (false, nil); a failure
// of the storage is ErrUnavailable.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if s.Dir != "" && plainKey(key) {
		fi, err := os.Stat(filepath.Join(s.Dir, filepath.FromSlash(key)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("storage: stat %s: %w", key, Classify(err))
		}
		return fi.Mode().IsRegular(), nil
	}
	ok, err := s.Bucket.Exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("storage: stat %s: %w", key, Classify(err))
	}
	return ok, nil
}

// errNotRegular is openFile's error for a path that is not a regular file.
var errNotRegular = errors.New("storage: not a regular file")

// isStatErr reports an error of openFile's stat (the file opened, its size unknown).
func isStatErr(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "stat"
}

// plainKey reports whether fileblob stores key under its own name: a relative path of printable
// characters without "..", empty or trailing segments (which fileblob escapes) or backslashes.
func plainKey(key string) bool {
	if !filepath.IsLocal(key) || strings.HasSuffix(key, "/") || strings.Contains(key, "//") || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// SignedPut returns a URL that lets anyone holding it PUT one object to key until expiry, with
// contentType and exactly size bytes bound into the signature where the driver signs them (S3:
// Content-Type and Content-Length are signed headers, so S3 refuses a PUT with another type or
// length). gocloud's s3blob refuses SignedURLOptions.ContentType for PUT (AWS SDK v2 issue 1475),
// so both are set on the SDK's input instead. Drivers that sign no headers (or have no signed
// URLs: file, mem) bind what they can or return an error; the caller verifies the object anyway.
func (s *Store) SignedPut(ctx context.Context, key, contentType string, size int64, expiry time.Duration) (string, error) {
	u, err := s.Bucket.SignedURL(ctx, key, &blob.SignedURLOptions{
		Method: http.MethodPut,
		Expiry: expiry,
		BeforeSign: func(as func(any) bool) error {
			var in *s3.PutObjectInput
			if as(&in) {
				in.ContentType = &contentType
				in.ContentLength = &size
			}
			return nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("storage: sign PUT %s: %w", key, Classify(err))
	}
	return u, nil
}

// Delete removes key; a missing object is not an error. On a file:// bucket the folders the key
// leaves empty are removed too, so failed uploads leave no trace.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.Bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("storage: delete %s: %w", key, Classify(err))
	}
	if s.Scheme == "file" {
		// Emptied folders below a prefix go; the prefix folders themselves (originals/, …) stay,
		// as the probe leaves them: a read-only top folder would not let Veil create them again.
		for dir := path.Dir(key); strings.Contains(dir, "/"); dir = path.Dir(dir) {
			if os.Remove(filepath.Join(s.Dir, filepath.FromSlash(dir))) != nil {
				break // not empty (or already gone): stop climbing
			}
		}
	}
	return nil
}

// DeletePrefix removes every object under prefix.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	it := s.Bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("storage: list %s: %w", prefix, Classify(err))
		}
		if err := s.Delete(ctx, obj.Key); err != nil {
			return err
		}
	}
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "secret") || strings.Contains(strings.ToLower(k), "key") || strings.Contains(strings.ToLower(k), "token") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	u.User = nil
	return u.String()
}

// chunkSize is the size of the writes Write makes to a bucket: large enough that a multi-gigabyte
// upload costs few syscalls (or few multipart-upload parts), small enough to keep memory bounded.
const chunkSize = 1 << 20

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// writeError is an error of the destination in copyChunked, as opposed to one of its source.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// copyChunked copies r to w in full chunkSize writes (the last may be short). Sources such as a
// multipart part return a few KiB per Read; io.Copy would pass each on as its own write.
func copyChunked(w io.Writer, r io.Reader) (int64, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := fill(r, buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, &writeError{werr}
			}
			total += int64(n)
		}
		switch err {
		case nil:
		case io.EOF:
			return total, nil
		default:
			return total, err
		}
	}
}

// fill reads r until buf is full, r ends (io.EOF) or fails. Unlike io.ReadFull it passes on the
// source's own errors as they are: an io.ErrUnexpectedEOF of r (a multipart part whose connection
// closed before its boundary) is a failure, not the end of a short last chunk.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
