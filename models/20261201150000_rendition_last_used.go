package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

func init() {
	Migrations.MustRegister(migrateRenditionLastUsed, nil)
}

// migrateRenditionLastUsed adds renditions.last_used_at, which the per-image bound on stored
// renditions evicts by (least recently used first). The initial migration creates tables from the
// current models, so on a new database the column already exists: add it only when missing.
func migrateRenditionLastUsed(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		var err error
		colType := "TIMESTAMP"
		if tx.Dialect().Name() == dialect.PG {
			colType = "TIMESTAMPTZ"
			err = tx.NewRaw("SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'renditions' AND column_name = 'last_used_at'").Scan(ctx, &n)
		} else {
			err = tx.NewRaw("SELECT count(*) FROM pragma_table_info('renditions') WHERE name = 'last_used_at'").Scan(ctx, &n)
		}
		if err != nil {
			return fmt.Errorf("look for renditions.last_used_at: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE renditions ADD COLUMN last_used_at "+colType); err != nil {
			return fmt.Errorf("add renditions.last_used_at: %w", err)
		}
		return nil
	})
}
