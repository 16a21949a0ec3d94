package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// GCSACL expresses public/private as the object ACL entry allUsers:READER on buckets with
// fine-grained access control, through the gcsblob bucket's As escape hatch. Buckets with uniform
// bucket-level access refuse object ACLs: Veil serves them proxy-only.
type GCSACL struct {
	bucket *gcs.BucketHandle
}

// NewGCSACL returns the object-ACL driver for a gs:// store.
func NewGCSACL(s *Store) (*GCSACL, error) {
	var c *gcs.Client
	if s.Scheme != "gs" || !s.Bucket.As(&c) || s.BucketName == "" {
		return nil, errors.New("not a gs:// bucket")
	}
	return &GCSACL{bucket: c.Bucket(s.BucketName)}, nil
}

// Name implements ACL.
func (a *GCSACL) Name() string { return "gcs-acl" }

// SetPublic implements ACL: public adds allUsers:READER, private removes it (removing an absent
// entry is success).
func (a *GCSACL) SetPublic(ctx context.Context, key string, public bool) error {
	acl := a.bucket.Object(key).ACL()
	if public {
		return classifyGCS(key, acl.Set(ctx, gcs.AllUsers, gcs.RoleReader))
	}
	err := acl.Delete(ctx, gcs.AllUsers)
	var api *googleapi.Error
	if errors.As(err, &api) && api.Code == http.StatusNotFound {
		// GCS answers 404 both for a missing object and for an entry that was not there: only the
		// first is an error, as with the other drivers.
		if _, attrErr := a.bucket.Object(key).Attrs(ctx); attrErr != nil {
			return classifyGCS(key, attrErr)
		}
		return nil
	}
	return classifyGCS(key, err)
}

func classifyGCS(key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, gcs.ErrObjectNotExist) {
		return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrNotFound, err)
	}
	var api *googleapi.Error
	if errors.As(err, &api) {
		switch {
		case api.Code == http.StatusNotFound:
			return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrNotFound, err)
		case uniformAccess(api):
			return fmt.Errorf("storage: permission of %s: %w (uniform bucket-level access is on): %w", key, ErrACLNotSupported, err)
		}
	}
	return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrUnavailable, err)
}

// uniformAccess recognises GCS's refusal of object ACLs on a bucket with uniform bucket-level
// access: 400 "Cannot use ACL API to ... when uniform bucket-level access is enabled".
func uniformAccess(api *googleapi.Error) bool {
	if api.Code != http.StatusBadRequest {
		return false
	}
	msg := strings.ToLower(api.Message)
	for _, e := range api.Errors {
		msg += " " + strings.ToLower(e.Message)
	}
	return strings.Contains(msg, "uniform bucket-level access")
}

// detectGCS writes a probe object and sets its ACL: a fine-grained bucket accepts it, a uniform one
// refuses with the reason.
func detectGCS(ctx context.Context, s *Store) (ACL, error) {
	acl, err := NewGCSACL(s)
	if err != nil {
		return nil, err
	}
	key := ".veil-probe/acl"
	if _, err := s.Write(ctx, key, "text/plain", strings.NewReader("veil acl probe")); err != nil {
		return nil, err
	}
	defer s.Delete(context.WithoutCancel(ctx), key)
	if err := acl.SetPublic(ctx, key, false); err != nil {
		return nil, fmt.Errorf("the bucket refuses object ACLs (%w); serving proxy-only", err)
	}
	return acl, nil
}
