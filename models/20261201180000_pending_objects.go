package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migratePendingObjects, nil)
}

// migratePendingObjects adds pending_objects: an upload records its key there before the first
// byte is written and removes it in the transaction that inserts its row, so the reconciler can
// tell an upload in flight from the debris of one that crashed.
func migratePendingObjects(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateTable().Model((*PendingObject)(nil)).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("create pending_objects: %w", err)
		}
		if _, err := tx.NewCreateIndex().Model((*PendingObject)(nil)).Index("pending_objects_created").IfNotExists().
			Column("created_at").Exec(ctx); err != nil {
			return fmt.Errorf("create index pending_objects_created: %w", err)
		}
		return nil
	})
}
