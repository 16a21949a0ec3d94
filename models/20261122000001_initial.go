package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

func init() {
	Migrations.MustRegister(migrateInitial, nil)
}

func migrateInitial(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		creates := []struct {
			model any
			fks   []string
		}{
			{(*Collection)(nil), []string{"(parent_id) REFERENCES collections (id)"}},
			{(*Image)(nil), []string{"(collection_id) REFERENCES collections (id)"}},
			{(*Document)(nil), []string{"(collection_id) REFERENCES collections (id)"}},
			{(*MediaTag)(nil), nil},
			{(*Rendition)(nil), []string{"(image_id) REFERENCES images (id) ON DELETE CASCADE"}},
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
		indexes := []struct {
			model   any
			name    string
			unique  bool
			columns []string
		}{
			{(*Collection)(nil), "collections_parent_name", true, []string{"parent_id", "name"}},
			{(*Image)(nil), "images_collection_sha256", true, []string{"collection_id", "sha256"}},
			{(*Image)(nil), "images_collection", false, []string{"collection_id", "id"}},
			{(*Image)(nil), "images_privacy_outdated", false, []string{"file_permissions_last_set"}},
			{(*Document)(nil), "documents_collection_sha256", true, []string{"collection_id", "sha256"}},
			{(*Document)(nil), "documents_collection", false, []string{"collection_id", "id"}},
			{(*Document)(nil), "documents_privacy_outdated", false, []string{"file_permissions_last_set"}},
			{(*MediaTag)(nil), "media_tags_tag", false, []string{"tag", "media_id"}},
			{(*Rendition)(nil), "renditions_image_spec_focal", true, []string{"image_id", "spec", "focal_key"}},
		}
		for _, ix := range indexes {
			q := tx.NewCreateIndex().Model(ix.model).Index(ix.name).Column(ix.columns...)
			if ix.unique {
				q = q.Unique()
			}
			if _, err := q.Exec(ctx); err != nil {
				return fmt.Errorf("create index %s: %w", ix.name, err)
			}
		}
		root := &Collection{ID: RootCollectionID, Name: "Root", Path: "/" + RootCollectionID + "/", CreatedAt: Now()}
		if _, err := tx.NewInsert().Model(root).Exec(ctx); err != nil {
			return fmt.Errorf("create root collection: %w", err)
		}
		return nil
	})
}
