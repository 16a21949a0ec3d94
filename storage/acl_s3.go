package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrACLNotSupported is a bucket that refuses per-object ACLs (S3's default since 2023:
// "AccessControlListNotSupported").
var ErrACLNotSupported = errors.New("the bucket does not support object ACLs")

// S3ACL expresses public/private as the canned object ACLs public-read / private, through the
// s3blob bucket's As escape hatch.
type S3ACL struct {
	client *s3.Client
	bucket string
}

// S3TagACL expresses public/private as the object tag veil-privacy=public|private, for buckets
// with ACLs disabled whose bucket policy grants public reads on that tag (see the README).
type S3TagACL struct {
	client *s3.Client
	bucket string
}

func s3Client(s *Store) (*s3.Client, error) {
	var c *s3.Client
	if s.Scheme != "s3" || !s.Bucket.As(&c) || s.BucketName == "" {
		return nil, errors.New("not an s3:// bucket")
	}
	return c, nil
}

// NewS3ACL returns the object-ACL driver for an s3:// store.
func NewS3ACL(s *Store) (*S3ACL, error) {
	c, err := s3Client(s)
	if err != nil {
		return nil, err
	}
	return &S3ACL{client: c, bucket: s.BucketName}, nil
}

// NewS3TagACL returns the object-tag driver for an s3:// store.
func NewS3TagACL(s *Store) (*S3TagACL, error) {
	c, err := s3Client(s)
	if err != nil {
		return nil, err
	}
	return &S3TagACL{client: c, bucket: s.BucketName}, nil
}

// Name implements ACL.
func (a *S3ACL) Name() string { return "s3-acl" }

// Name implements ACL.
func (a *S3TagACL) Name() string { return "s3-tags" }

// SetPublic implements ACL.
func (a *S3ACL) SetPublic(ctx context.Context, key string, public bool) error {
	acl := s3types.ObjectCannedACLPrivate
	if public {
		acl = s3types.ObjectCannedACLPublicRead
	}
	_, err := a.client.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String(a.bucket), Key: aws.String(key), ACL: acl})
	return classifyS3(key, err)
}

// SetPublic implements ACL.
func (a *S3TagACL) SetPublic(ctx context.Context, key string, public bool) error {
	v := "private"
	if public {
		v = "public"
	}
	_, err := a.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(a.bucket), Key: aws.String(key),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("veil-privacy"), Value: aws.String(v)}}},
	})
	return classifyS3(key, err)
}

func classifyS3(key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case code == "NoSuchKey" || code == "NotFound":
			return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrNotFound, err)
		case code == "AccessControlListNotSupported" || strings.Contains(code, "NotImplemented"):
			return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrACLNotSupported, err)
		}
	}
	return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrUnavailable, err)
}

// detectS3 writes a probe object under a key of its own (instances may start together) and tries
// the strategies in order: object ACLs — made public, then private again, since a bucket blocking
// public ACLs (S3 Block Public Access) accepts only the second — then object tags; it returns the
// first the bucket accepts, or an error saying why neither works.
func detectS3(ctx context.Context, s *Store) (ACL, error) {
	key := probeKey()
	if _, err := s.Write(ctx, key, "text/plain", strings.NewReader("veil acl probe")); err != nil {
		return nil, err
	}
	defer s.Delete(context.WithoutCancel(ctx), key)
	acl, err := NewS3ACL(s)
	if err != nil {
		return nil, err
	}
	aclErr := acl.SetPublic(ctx, key, true)
	if aclErr == nil {
		aclErr = acl.SetPublic(ctx, key, false)
	}
	if aclErr == nil {
		return acl, nil
	}
	tags, _ := NewS3TagACL(s)
	tagErr := tags.SetPublic(ctx, key, true)
	if tagErr == nil {
		tagErr = tags.SetPublic(ctx, key, false)
	}
	if tagErr == nil {
		return tags, nil
	}
	return nil, fmt.Errorf("the bucket accepts neither object ACLs (%v) nor object tags (%v); serving proxy-only", aclErr, tagErr)
}
