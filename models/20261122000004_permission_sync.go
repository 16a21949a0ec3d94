package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migratePermissionSync, nil)
}

func migratePermissionSync(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateTable().Model((*PermissionSync)(nil)).Exec(ctx); err != nil {
			return fmt.Errorf("create permission_sync: %w", err)
		}
		if _, err := tx.NewCreateIndex().Model((*PermissionSync)(nil)).Index("permission_sync_claimed").
			Column("claimed_until").Exec(ctx); err != nil {
			return fmt.Errorf("create index permission_sync_claimed: %w", err)
		}
		return nil
	})
}
