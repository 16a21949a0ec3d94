package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateResumableUploads, nil)
}

// migrateResumableUploads adds resumable_uploads and resumable_parts: the state of tus uploads,
// kept in the database (and their bytes in the bucket) so that an upload resumes after a restart
// and on another instance.
func migrateResumableUploads(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateTable().Model((*ResumableUpload)(nil)).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("create resumable_uploads: %w", err)
		}
		if _, err := tx.NewCreateIndex().Model((*ResumableUpload)(nil)).Index("resumable_uploads_expires").IfNotExists().
			Column("expires_at").Exec(ctx); err != nil {
			return fmt.Errorf("create index resumable_uploads_expires: %w", err)
		}
		if _, err := tx.NewCreateTable().Model((*ResumablePart)(nil)).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("create resumable_parts: %w", err)
		}
		return nil
	})
}
