package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
)

// ACL sets the storage permission of single objects: public (readable without credentials, e.g. by
// a CDN or a front web server) or private. Implementations are safe for concurrent use, treat
// setting the current state as success, and return errors wrapping ErrNotFound for a missing
// object and ErrUnavailable for storage failures.
type ACL interface {
	// SetPublic makes key public (true) or private (false).
	SetPublic(ctx context.Context, key string, public bool) error
	// Name is the strategy's name for logs, /readyz and veil doctor.
	Name() string
}

// ACLFor picks the driver for a store by name. "" or "auto" chooses file-mode for file:// stores,
// mem for mem:// stores, probes s3:// buckets (object ACLs, else object tags) and gs:// buckets
// (object ACLs; uniform bucket-level access and public access prevention refuse them), and reports
// azblob:// as proxy-only (Azure has no per-blob public access). An error under "auto" means
// proxy-only, with the reason. "file-mode", "mem", "simulate", "s3-acl", "s3-tags" and "gcs-acl"
// are explicit; an explicit strategy the bucket refuses is an error, not a runtime surprise.
func ACLFor(ctx context.Context, s *Store, name string, log *slog.Logger) (ACL, error) {
	switch name {
	case "", "auto":
		switch s.Scheme {
		case "file":
			return NewFileACL(s.Dir), nil
		case "mem":
			return NewMemACL(MemACLOptions{}), nil
		case "s3":
			return detectS3(ctx, s)
		case "gs":
			return detectGCS(ctx, s)
		case "azblob":
			return nil, fmt.Errorf("%w: Azure Blob Storage grants public access per container, not per blob; serving proxy-only", ErrACLNotSupported)
		}
		return nil, fmt.Errorf("no file-permission driver for %s:// buckets; serving proxy-only", s.Scheme)
	case "s3-acl", "s3-tags":
		a, err := detectS3(ctx, s)
		if err != nil {
			return nil, err
		}
		if a.Name() != name {
			return nil, fmt.Errorf("%s was configured but the bucket only supports %s", name, a.Name())
		}
		return a, nil
	case "gcs-acl":
		if s.Scheme != "gs" {
			return nil, errors.New("gcs-acl needs a gs:// bucket")
		}
		return detectGCS(ctx, s)
	case "file-mode":
		if s.Scheme != "file" {
			return nil, errors.New("file-mode needs a file:// bucket")
		}
		return NewFileACL(s.Dir), nil
	case "mem":
		return NewMemACL(MemACLOptions{}), nil
	case "simulate":
		return NewSimulateACL(log), nil
	}
	return nil, fmt.Errorf("unknown file-permission driver %q", name)
}

// probeKey names a permission probe object; each probe has its own, so instances starting at the
// same moment never delete each other's.
func probeKey() string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return ".veil-probe/acl-" + hex.EncodeToString(rnd[:])
}
