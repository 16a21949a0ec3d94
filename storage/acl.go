package storage

import (
	"context"
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
// mem for mem:// stores, and for s3:// stores probes the bucket (object ACLs, else object tags);
// other cloud buckets have no driver yet (an error: run proxy-only). "file-mode", "mem",
// "simulate", "s3-acl" and "s3-tags" are explicit; an explicit S3 strategy the bucket refuses is an
// error, not a runtime surprise.
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
		}
		return nil, fmt.Errorf("no file-permission driver for %s:// buckets yet; serving proxy-only", s.Scheme)
	case "s3-acl", "s3-tags":
		a, err := detectS3(ctx, s)
		if err != nil {
			return nil, err
		}
		if a.Name() != name {
			return nil, fmt.Errorf("%s was configured but the bucket only supports %s", name, a.Name())
		}
		return a, nil
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
