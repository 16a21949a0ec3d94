package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateStagedUploads, nil)
}

// migrateStagedUploads adds staged_uploads, the presigned direct uploads (createUpload,
// completeUpload) and the index the reconciler finds expired ones by.
func migrateStagedUploads(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateTable().Model((*StagedUpload)(nil)).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("create staged_uploads: %w", err)
		}
		if _, err := tx.NewCreateIndex().Model((*StagedUpload)(nil)).Index("staged_uploads_expires").IfNotExists().
			Column("expires_at").Exec(ctx); err != nil {
			return fmt.Errorf("create index staged_uploads_expires: %w", err)
		}
		return nil
	})
}
