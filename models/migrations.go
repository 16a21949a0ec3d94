package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// Migrations is Veil's ordered schema history. Each step runs in a transaction on both SQLite and
// Postgres; steps are never edited once released, only added.
var Migrations = migrate.NewMigrations()

// Migrate brings the schema up to date and returns the names of the migrations it applied.
func Migrate(ctx context.Context, db *bun.DB) ([]string, error) {
	ctx = WithoutTimeout(ctx)
	m := migrate.NewMigrator(db, Migrations)
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("models: init migrations: %w", err)
	}
	// The lock is a row with a unique name: a second process starting at the same moment fails to
	// take it, so wait for the first one to finish instead of failing start-up.
	for attempt := 0; ; attempt++ {
		err := m.Lock(ctx)
		if err == nil {
			break
		}
		if attempt == 100 {
			return nil, fmt.Errorf("models: lock migrations (another process holds bun_migration_locks?): %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer m.Unlock(ctx) //nolint:errcheck // best effort; the lock row is advisory
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	var names []string
	for _, mig := range group.Migrations {
		names = append(names, mig.Name)
	}
	return names, nil
}

// Pending returns the names of migrations not yet applied.
func Pending(ctx context.Context, db *bun.DB) ([]string, error) {
	m := migrate.NewMigrator(db, Migrations)
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("models: init migrations: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("models: migration status: %w", err)
	}
	var names []string
	for _, mig := range ms.Unapplied() {
		names = append(names, mig.Name)
	}
	return names, nil
}
