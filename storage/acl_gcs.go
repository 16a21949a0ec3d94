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
// bucket-level access or enforced public access prevention refuse it: Veil serves them proxy-only.
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

// classifyGCS wraps an error of the GCS client: ErrNotFound for a missing object,
// ErrACLNotSupported (with the reason) for a bucket that refuses public object ACLs, ErrUnavailable
// for the rest. Context cancellation passes through; nil stays nil.
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
		case api.Code == http.StatusBadRequest && gcsMessageHas(api, "uniform bucket-level access"):
			return fmt.Errorf("storage: permission of %s: %w: the bucket uses uniform bucket-level access: %w", key, ErrACLNotSupported, err)
		case api.Code == http.StatusPreconditionFailed && gcsMessageHas(api, "public access prevention"):
			return fmt.Errorf("storage: permission of %s: %w: the bucket enforces public access prevention: %w", key, ErrACLNotSupported, err)
		}
	}
	return fmt.Errorf("storage: permission of %s: %w: %w", key, ErrUnavailable, err)
}

// gcsMessageHas reports whether the messages of a GCS error mention phrase. GCS gives no specific
// reason code for its ACL refusals: uniform bucket-level access answers 400 "invalid" with
// "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled", public
// access prevention 412 "conditionNotMet" with "… not allowed since public access prevention is
// enforced".
func gcsMessageHas(api *googleapi.Error, phrase string) bool {
	msg := strings.ToLower(api.Message)
	for _, e := range api.Errors {
		msg += " " + strings.ToLower(e.Message)
	}
	return strings.Contains(msg, phrase)
}

// detectGCS writes a probe object under a key of its own (instances may start together), makes it
// public and then private again, and deletes it. A fine-grained bucket accepts both; a bucket with
// uniform bucket-level access refuses the first, as does one enforcing public access prevention
// (which would accept the private step alone), and the error says which.
func detectGCS(ctx context.Context, s *Store) (ACL, error) {
	acl, err := NewGCSACL(s)
	if err != nil {
		return nil, err
	}
	key := probeKey()
	if _, err := s.Write(ctx, key, "text/plain", strings.NewReader("veil acl probe")); err != nil {
		return nil, err
	}
	defer s.Delete(context.WithoutCancel(ctx), key)
	for _, public := range []bool{true, false} {
		if err := acl.SetPublic(ctx, key, public); err != nil {
			return nil, fmt.Errorf("storage: gs://%s: object ACLs unusable, serving proxy-only: %w", s.BucketName, err)
		}
	}
	return acl, nil
}
