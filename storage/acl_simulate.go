package storage

import (
	"context"
	"log/slog"
)

// SimulateACL changes nothing: it logs each permission change it would make, for a dry run of a
// new deployment.
type SimulateACL struct{ log *slog.Logger }

// NewSimulateACL returns a SimulateACL logging to log.
func NewSimulateACL(log *slog.Logger) *SimulateACL {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SimulateACL{log: log}
}

// Name implements ACL.
func (s *SimulateACL) Name() string { return "simulate" }

// SetPublic implements ACL.
func (s *SimulateACL) SetPublic(ctx context.Context, key string, public bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "would set file permission", "key", key, "public", public)
	return nil
}
