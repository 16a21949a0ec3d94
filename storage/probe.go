package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Prefixes are the folders of the bucket Veil writes to; Probe checks each, since each may live
// on its own mount or carry its own permissions, and none of Veil's writes goes to the top.
var Prefixes = []string{"originals/", "documents/", "renditions/"}

// PrefixProbe is the outcome of probing one prefix: nil Err when a write, read-back and delete
// under it all worked.
type PrefixProbe struct {
	Prefix string
	Err    error
}

// Probe writes, reads back and deletes a small object under each of Prefixes, proving the bucket
// works for Veil's credentials where Veil writes. Failures are classified (ErrUnavailable) and,
// for file:// buckets, explained by a *Diagnosis; the error names every failing prefix.
func (s *Store) Probe(ctx context.Context) error {
	var errs []error
	for _, p := range s.ProbeEach(ctx) {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errors.Join(errs...)
}

// ProbeEach probes every prefix of Prefixes and reports each. A probe object never outlives its
// probe: it is deleted on every outcome (read failure, wrong bytes, a cancelled ctx), and a
// delete that fails is itself the prefix's failure.
func (s *Store) ProbeEach(ctx context.Context) []PrefixProbe {
	out := make([]PrefixProbe, len(Prefixes))
	for i, prefix := range Prefixes {
		out[i] = PrefixProbe{Prefix: prefix, Err: s.probe(ctx, prefix)}
	}
	return out
}

func (s *Store) probe(ctx context.Context, prefix string) (err error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := prefix + ".veil-probe-" + hex.EncodeToString(rnd[:])
	want := []byte("veil storage probe " + key)
	fail := func(op string, err error) error {
		if s.Scheme == "file" {
			if d := diagnoseWritable(filepath.Join(s.Dir, filepath.FromSlash(prefix))); d != nil && d.Op != "open folder" {
				return d
			}
			if d := diagnoseWritable(s.Dir); d != nil {
				return d
			}
		}
		return fmt.Errorf("storage: probe %s %s: %w", op, key, Classify(err))
	}
	if err := s.Bucket.WriteAll(ctx, key, want, &blob.WriterOptions{ContentType: "text/plain"}); err != nil {
		return fail("write", err)
	}
	defer func() {
		// Whatever happened after the write, the object goes, even when ctx has ended. Not
		// s.Delete: it would remove an emptied prefix folder, which a read-only top folder would
		// then not let Veil create again.
		derr := s.Bucket.Delete(context.WithoutCancel(ctx), key)
		if derr != nil && gcerrors.Code(derr) != gcerrors.NotFound && err == nil {
			err = fail("delete", derr)
		}
	}()
	got, err := s.Bucket.ReadAll(ctx, key)
	if err != nil {
		return fail("read", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("storage: probe read back different bytes from %s: %w", key, ErrUnavailable)
	}
	return nil
}
