package models_test

import (
	"context"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

func TestMigrateIsIdempotentAndCreatesRoot(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		applied, err := models.Migrate(ctx, db.DB)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second migrate applied %v", applied)
		}
		pending, err := models.Pending(ctx, db.DB)
		if err != nil || len(pending) != 0 {
			t.Fatalf("pending = %v, %v", pending, err)
		}
		var root models.Collection
		if err := db.NewSelect().Model(&root).Where("id = ?", models.RootCollectionID).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if root.Name != "Root" || root.ParentID != nil {
			t.Fatalf("root = %+v", root)
		}
	})
}

func TestQueryCounter(t *testing.T) {
	db := veiltest.SQLite(t)
	ctx, c := models.WithQueryCounter(context.Background())
	for i := 0; i < 3; i++ {
		if _, err := db.NewSelect().Model((*models.Image)(nil)).Count(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c.Count() != 3 {
		t.Fatalf("count = %d, want 3", c.Count())
	}
}

func TestDBConfigValidate(t *testing.T) {
	for _, bad := range []string{"", "mysql://x", "nonsense"} {
		if err := (models.DBConfig{URL: bad}).Validate(); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, good := range []string{"sqlite:data/veil.db", "postgres://u@h/db"} {
		if err := (models.DBConfig{URL: good}).Validate(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}
