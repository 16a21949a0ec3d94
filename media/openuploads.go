package media

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
)

// Open uploads: presigned uploads (createUpload) and resumable uploads (tus) that are neither
// completed nor expired. Each holds a promise of storage until it ends (a staging object, received
// parts), so a user may have only so many at once, declaring only so many bytes together
// (Config.MaxOpenUploadsPerUser, Config.MaxOpenUploadBytesPerUser). The check and the insert of a
// new upload are one transaction under a per-user lock, so two creations at the cap never both
// pass, on one instance or several.

// DefaultMaxOpenUploadsPerUser is Config.MaxOpenUploadsPerUser by default.
const DefaultMaxOpenUploadsPerUser = 20

// DefaultMaxOpenUploadBytesPerUser is Config.MaxOpenUploadBytesPerUser by default: ten documents
// of the default largest size.
const DefaultMaxOpenUploadBytesPerUser = 20 << 30

// OpenUploadLimitError refuses a new upload (createUpload, or a tus creation) because the viewer
// already has Config.MaxOpenUploadsPerUser open uploads (Scope "count"), or because its declared
// size would take the declared bytes of the viewer's open uploads past
// Config.MaxOpenUploadBytesPerUser (Scope "bytes"). Nothing was recorded and no URL was issued;
// completing, terminating or letting an upload expire makes room.
type OpenUploadLimitError struct {
	Scope string // "count" or "bytes"
	Limit int64
	// Open is the viewer's open uploads (Scope "count") or their declared bytes (Scope "bytes").
	Open int64
}

func (e *OpenUploadLimitError) Error() string {
	if e.Scope == "bytes" {
		return fmt.Sprintf("your open uploads already declare %d bytes and one user's may declare at most %d together: "+
			"complete or cancel some, or wait for them to expire", e.Open, e.Limit)
	}
	return fmt.Sprintf("you have %d open uploads, the most one user may have at once: "+
		"complete or cancel one, or wait for it to expire", e.Open)
}

// recordOpenUpload runs insert, which records a new upload of user declaring size bytes, if the
// user's open uploads leave room for it (else *OpenUploadLimitError). The count and the insert are
// one transaction holding the user's lock: on Postgres a transaction-scoped advisory lock on the
// user id, on SQLite the database's write lock (BEGIN IMMEDIATE).
func (s *Service) recordOpenUpload(ctx context.Context, userID string, size int64, insert func(ctx context.Context, tx bun.Tx) error) error {
	maxN, maxBytes := int64(s.cfg.MaxOpenUploadsPerUser), s.cfg.MaxOpenUploadBytesPerUser
	s.hook("upload.open.lock", userID)
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if maxN > 0 || maxBytes > 0 {
			if s.db.Dialect == models.Postgres {
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "veil.open-uploads:"+userID); err != nil {
					return fmt.Errorf("media: lock open uploads: %w", err)
				}
			}
			n, bytes, err := openUploads(ctx, tx, userID, models.Now())
			if err != nil {
				return err
			}
			s.hook("upload.open.counted", userID)
			switch {
			case maxN > 0 && n >= maxN:
				return &OpenUploadLimitError{Scope: "count", Limit: maxN, Open: n}
			case maxBytes > 0 && bytes+size > maxBytes:
				return &OpenUploadLimitError{Scope: "bytes", Limit: maxBytes, Open: bytes}
			}
		}
		return insert(ctx, tx)
	})
}

// openUploads counts the open uploads of user at now, and sums their declared sizes.
func openUploads(ctx context.Context, tx bun.Tx, userID string, now time.Time) (n, bytes int64, err error) {
	var staged, resumable struct {
		N     int64 `bun:"n"`
		Bytes int64 `bun:"bytes"`
	}
	if err := tx.NewSelect().Model((*models.StagedUpload)(nil)).
		ColumnExpr("count(*) AS n").ColumnExpr("coalesce(sum(size), 0) AS bytes").
		Where("user_id = ? AND state IN (?) AND expires_at > ?", userID, bun.In([]string{models.StagedPending, models.StagedCompleting}), now).
		Scan(ctx, &staged); err != nil {
		return 0, 0, fmt.Errorf("media: count open presigned uploads: %w", err)
	}
	if err := tx.NewSelect().Model((*models.ResumableUpload)(nil)).
		ColumnExpr("count(*) AS n").ColumnExpr("coalesce(sum(size), 0) AS bytes").
		Where("owner_id = ? AND state = ? AND expires_at > ?", userID, models.ResumableReceiving, now).
		Scan(ctx, &resumable); err != nil {
		return 0, 0, fmt.Errorf("media: count open resumable uploads: %w", err)
	}
	return staged.N + resumable.N, staged.Bytes + resumable.Bytes, nil
}
