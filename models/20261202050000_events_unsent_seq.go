package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateEventsUnsentSeq, nil)
}

// migrateEventsUnsentSeq indexes the events numbered but not yet delivered by cursor. The relay
// looks for them before every batch; without it, both SQLite and Postgres answered through the
// unique cursor index, reading every event ever delivered (still kept for replay) to find none:
// most of a large publish's time.
func migrateEventsUnsentSeq(ctx context.Context, db *bun.DB) error {
	const ddl = `CREATE INDEX IF NOT EXISTS events_unsent_seq ON events (seq) WHERE sent_at IS NULL AND seq IS NOT NULL`
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("events: index unsent cursors: %w", err)
	}
	return nil
}
