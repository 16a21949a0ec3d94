package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateContent, nil)
}

func migrateContent(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateTable().Model((*Content)(nil)).Exec(ctx); err != nil {
			return fmt.Errorf("create contents: %w", err)
		}
		if _, err := tx.NewCreateTable().Model((*Reference)(nil)).
			ForeignKey("(content_id) REFERENCES contents (id) ON DELETE CASCADE").Exec(ctx); err != nil {
			return fmt.Errorf("create content_refs: %w", err)
		}
		for _, ix := range []struct {
			model  any
			name   string
			unique bool
			cols   []string
		}{
			{(*Content)(nil), "contents_kind_key", true, []string{"kind", "key"}},
			{(*Content)(nil), "contents_live", false, []string{"live", "id"}},
			{(*Reference)(nil), "content_refs_media", false, []string{"media_id", "state"}},
			{(*Image)(nil), "images_privacy", false, []string{"privacy", "id"}},
			{(*Document)(nil), "documents_privacy", false, []string{"privacy", "id"}},
		} {
			q := tx.NewCreateIndex().Model(ix.model).Index(ix.name).Column(ix.cols...)
			if ix.unique {
				q = q.Unique()
			}
			if _, err := q.Exec(ctx); err != nil {
				return fmt.Errorf("create index %s: %w", ix.name, err)
			}
		}
		return nil
	})
}
