package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
)

// Promoting an object: giving the bytes of one object (a staged upload) a second key without
// passing them through Veil again, once the caller has read and checked them. Both ways make sure
// the object that gets the new key is the one the caller read, whatever was written to its key
// meanwhile.

// ErrCannotPromote is returned by LinkFile and Copy when the bucket cannot do it (another
// driver, another file system, no /proc, an object too large for one server-side copy): the caller
// writes the bytes itself.
var ErrCannotPromote = errors.New("storage: the bucket cannot give this object a new key in place")

// MaxServerSideCopy is the largest object one S3 CopyObject copies.
const MaxServerSideCopy = 5 << 30

// LinkFile gives the open file f, read from this file:// bucket, the key dst as a hard link
// (linkat through /proc/self/fd): the very file read, not whatever now has its old name. fileblob
// never writes into an existing file (it renames a finished temporary file over the name), so
// the bytes read are the bytes linked. The folders of dst are created; f stays open and its old
// key stays (the caller deletes it).
func (s *Store) LinkFile(dst string, f *os.File) error {
	if s.Dir == "" || !plainKey(dst) {
		return ErrCannotPromote
	}
	path := filepath.Join(s.Dir, filepath.FromSlash(dst))
	if err := os.MkdirAll(filepath.Dir(path), s.dirMode); err != nil {
		return fmt.Errorf("storage: link %s: %w", dst, Classify(err))
	}
	err := linkOpenFile(f, path)
	switch {
	case err == nil:
		return nil
	case cannotLink(err):
		return fmt.Errorf("%w: link %s: %v", ErrCannotPromote, dst, err)
	}
	return fmt.Errorf("storage: link %s: %w", dst, Classify(err))
}

// Copy copies src to dst inside an S3 bucket (CopyObject: the bytes do not leave the server),
// with contentType. Other buckets, and objects over MaxServerSideCopy, are ErrCannotPromote.
func (s *Store) Copy(ctx context.Context, dst, src, contentType string, size int64) error {
	if s.Scheme != "s3" || size > MaxServerSideCopy {
		return ErrCannotPromote
	}
	err := s.Bucket.Copy(ctx, dst, src, &blob.CopyOptions{BeforeCopy: func(as func(any) bool) error {
		var in *s3.CopyObjectInput
		if !as(&in) {
			return ErrCannotPromote
		}
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.ContentType = aws.String(contentType)
		return nil
	}})
	if err != nil {
		if errors.Is(err, ErrCannotPromote) {
			return err
		}
		return fmt.Errorf("storage: copy %s to %s: %w", src, dst, Classify(err))
	}
	return nil
}
