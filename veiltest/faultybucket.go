package veiltest

import (
	"context"
	"errors"
	"io"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/veil-media/veil/storage"
)

// FaultyBucket wraps a real bucket and fails writes on demand, the way a full disk, a quota, a
// read-only mount or an S3 outage does: once armed, a write whose key matches fails with the armed
// error after the given number of bytes went through (0: at the first byte). Reads, listings and
// deletes pass straight to the real bucket, so a test sees exactly what a failed write left there.
type FaultyBucket struct {
	inner *blob.Bucket

	mu     sync.Mutex
	err    error
	after  int64
	match  func(key string) bool
	failed int
}

// NewFaultyStore returns a Store over a FaultyBucket wrapping inner (closing it closes inner's bucket; Scheme and Dir it
// keeps, so key layout and file-permission drivers behave as on the real bucket).
func NewFaultyStore(inner *storage.Store) (*storage.Store, *FaultyBucket) {
	f := &FaultyBucket{inner: inner.Bucket}
	st := *inner
	st.Bucket = blob.NewBucket(f)
	return &st, f
}

// FailWrites arms the bucket: writes to keys match accepts (nil: every key) fail with err after
// after bytes. FailWrites(nil, 0, nil) disarms it.
func (f *FaultyBucket) FailWrites(err error, after int64, match func(key string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.after, f.match = err, after, match
}

// Failed is how many writes failed by injection.
func (f *FaultyBucket) Failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *FaultyBucket) fault(key string) (error, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil || f.match != nil && !f.match(key) {
		return nil, 0
	}
	return f.err, f.after
}

// BucketError is an error of a cloud bucket with its gocloud code, as s3blob and gcsblob report
// an HTTP 5xx (Internal), a 503 (Unavailable) or throttling (ResourceExhausted).
type BucketError struct{ Code gcerrors.ErrorCode }

func (e BucketError) Error() string { return "injected bucket error: " + e.Code.String() }

func (f *FaultyBucket) ErrorCode(err error) gcerrors.ErrorCode {
	var be BucketError
	switch {
	case errors.As(err, &be):
		return be.Code
	case gcerrors.Code(err) == gcerrors.NotFound:
		return gcerrors.NotFound
	case errors.Is(err, context.Canceled):
		return gcerrors.Canceled
	}
	return gcerrors.Unknown
}

func (f *FaultyBucket) As(i any) bool                 { return f.inner.As(i) }
func (f *FaultyBucket) ErrorAs(err error, i any) bool { return errors.As(err, i) }
func (f *FaultyBucket) Close() error                  { return f.inner.Close() } // closing the wrapping Store closes the real bucket

func (f *FaultyBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := f.inner.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime, ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag}, nil
}

func (f *FaultyBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	objs, next, err := f.inner.ListPage(ctx, token, size, &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir})
	}
	return page, nil
}

func (f *FaultyBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	r, err := f.inner.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return &faultyReader{r: r}, nil
}

type faultyReader struct{ r *blob.Reader }

func (r *faultyReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *faultyReader) Close() error               { return r.r.Close() }
func (r *faultyReader) As(i any) bool              { return r.r.As(i) }
func (r *faultyReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

func (f *FaultyBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w, err := f.inner.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType, BeforeWrite: opts.BeforeWrite})
	if err != nil {
		return nil, err
	}
	fw := &faultyWriter{w: w, ctx: ctx, f: f}
	fw.err, fw.left = f.fault(key)
	return fw, nil
}

type faultyWriter struct {
	w      *blob.Writer
	ctx    context.Context
	f      *FaultyBucket
	err    error
	left   int64
	failed bool
}

func (w *faultyWriter) Write(p []byte) (int, error) {
	if w.err == nil {
		return w.w.Write(p)
	}
	n := int64(len(p))
	if n > w.left {
		n = w.left
	}
	if n > 0 {
		if _, err := w.w.Write(p[:n]); err != nil {
			return 0, err
		}
		w.left -= n
	}
	if int(n) < len(p) {
		if !w.failed {
			w.failed = true
			w.f.mu.Lock()
			w.f.failed++
			w.f.mu.Unlock()
		}
		return int(n), w.err
	}
	return int(n), nil
}

// Close commits the object unless a write failed or ctx was cancelled, as a driver must: the real
// writer is then closed with its own context's cancellation, which discards the partial object.
func (w *faultyWriter) Close() error {
	if w.failed || w.ctx.Err() != nil {
		_ = w.w.Close()
		if w.failed {
			return w.err
		}
		return w.ctx.Err()
	}
	return w.w.Close()
}

func (f *FaultyBucket) Copy(ctx context.Context, dstKey, srcKey string, _ *driver.CopyOptions) error {
	return f.inner.Copy(ctx, dstKey, srcKey, nil)
}

func (f *FaultyBucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	return f.inner.Delete(ctx, key)
}

func (f *FaultyBucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return f.inner.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: opts.Expiry, Method: opts.Method})
}

var _ io.WriteCloser = (*faultyWriter)(nil)
