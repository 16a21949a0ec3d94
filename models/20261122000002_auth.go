package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateAuth, nil)
}

func migrateAuth(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		creates := []struct {
			model any
			fks   []string
		}{
			{(*User)(nil), nil},
			{(*Group)(nil), nil},
			{(*GroupMember)(nil), []string{"(group_id) REFERENCES groups (id) ON DELETE CASCADE", "(user_id) REFERENCES users (id) ON DELETE CASCADE"}},
			{(*Grant)(nil), []string{"(group_id) REFERENCES groups (id) ON DELETE CASCADE"}},
			{(*Token)(nil), []string{"(user_id) REFERENCES users (id) ON DELETE CASCADE"}},
		}
		for _, c := range creates {
			q := tx.NewCreateTable().Model(c.model)
			for _, fk := range c.fks {
				q = q.ForeignKey(fk)
			}
			if _, err := q.Exec(ctx); err != nil {
				return fmt.Errorf("create table for %T: %w", c.model, err)
			}
		}
		for _, ix := range []struct {
			model any
			name  string
			cols  []string
		}{
			{(*GroupMember)(nil), "group_members_user", []string{"user_id"}},
			{(*Grant)(nil), "grants_collection", []string{"collection_id"}},
			{(*Token)(nil), "tokens_user", []string{"user_id"}},
		} {
			if _, err := tx.NewCreateIndex().Model(ix.model).Index(ix.name).Column(ix.cols...).Exec(ctx); err != nil {
				return fmt.Errorf("create index %s: %w", ix.name, err)
			}
		}
		return nil
	})
}
