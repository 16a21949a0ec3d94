package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateOpenUploadsByUser, nil)
}

// migrateOpenUploadsByUser indexes presigned and resumable uploads by their user and expiry: a new
// upload counts its user's open ones (media's per-user caps).
func migrateOpenUploadsByUser(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateIndex().Model((*StagedUpload)(nil)).Index("staged_uploads_user_expires").IfNotExists().
			Column("user_id", "expires_at").Exec(ctx); err != nil {
			return fmt.Errorf("create index staged_uploads_user_expires: %w", err)
		}
		if _, err := tx.NewCreateIndex().Model((*ResumableUpload)(nil)).Index("resumable_uploads_owner_expires").IfNotExists().
			Column("owner_id", "expires_at").Exec(ctx); err != nil {
			return fmt.Errorf("create index resumable_uploads_owner_expires: %w", err)
		}
		return nil
	})
}
