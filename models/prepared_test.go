package models_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// Select binds values instead of writing them into the text: one prepared statement serves every
// value, awkward strings and times included, with bun's scanning and hooks.
func TestSelectBindsValues(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		root := models.RootCollectionID
		made := models.Now().Add(-time.Hour)
		names := []string{`it's ? $1 \ ' -- ünï`, "plain"}
		for i, name := range names {
			c := &models.Collection{ID: "col_test" + string(rune('a'+i)), ParentID: &root, Name: name, Path: "/x/", CreatedAt: made}
			if _, err := db.NewInsert().Model(c).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range names {
			var got []*models.Collection
			cctx, counter := models.WithQueryCounter(ctx)
			q := db.NewSelect().Model(&got).Where("name = ?", name).Where("created_at = ?", made)
			if err := db.Select(cctx, q); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Name != name || !got[0].CreatedAt.Equal(made) {
				t.Fatalf("name %q: got %+v", name, got)
			}
			if counter.Count() != 1 {
				t.Fatalf("counted %d statements, want 1", counter.Count())
			}
		}
		var one models.Collection
		if err := db.Select(ctx, db.NewSelect().Model(&one).Where("id = ?", "col_missing")); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("missing row: %v, want sql.ErrNoRows", err)
		}
		var n int
		if err := db.Select(ctx, db.NewSelect().Model((*models.Collection)(nil)).ColumnExpr("count(*)").Where("path = ?", "/x/"), &n); err != nil || n != 2 {
			t.Fatalf("count = %d, %v", n, err)
		}
		var byName []string
		for _, text := range models.PreparedTexts(db) {
			if strings.Contains(text, "plain") || strings.Contains(text, "it''s") || strings.Contains(text, "/x/") {
				t.Errorf("a value is in the statement text: %s", text)
			}
			if strings.Contains(text, "name = ") {
				byName = append(byName, text)
			}
		}
		if len(byName) != 1 {
			t.Fatalf("statements selecting by name: %q, want one for both values", byName)
		}
	})
}

// On Postgres the statement is prepared on the server (the extended protocol), where its plan is
// cached, rather than formatted by the driver into a simple query.
func TestSelectPreparesOnPostgres(t *testing.T) {
	ctx := context.Background()
	db, err := models.Open(ctx, models.DBConfig{URL: veiltest.PostgresURL(t), MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := models.Migrate(ctx, db.DB); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"col_a", "col_b"} {
		var got []*models.Collection
		if err := db.Select(ctx, db.NewSelect().Model(&got).Where("id = ?", id)); err != nil {
			t.Fatal(err)
		}
	}
	var texts []string
	if err := db.NewRaw("SELECT statement FROM pg_prepared_statements").Scan(ctx, &texts); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, s := range texts {
		if strings.Contains(s, `FROM "collections"`) && strings.Contains(s, "id = $1") {
			found++
		}
	}
	if found != 1 {
		t.Fatalf("prepared on the server: %q, want one statement with id = $1", texts)
	}
}

// BenchmarkSelect compares bun's Scan (values in the text) with Select (prepared, values bound)
// on a select of 50 rows by 50 ids, the shape of a list page's tags and collections.
//
//	VEIL_TEST_POSTGRES_URL=… go test ./models -run '^$' -bench Select
func BenchmarkSelect(b *testing.B) {
	dbs := map[string]func(testing.TB) *models.DB{"sqlite": veiltest.SQLite}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		dbs["postgres"] = veiltest.Postgres
	}
	for name, open := range dbs {
		db := open(b)
		ctx := context.Background()
		root := models.RootCollectionID
		ids := make([]string, 50)
		for i := range ids {
			ids[i] = fmt.Sprintf("col_bench%03d", i)
			c := &models.Collection{ID: ids[i], ParentID: &root, Name: ids[i], Path: "/" + ids[i] + "/", CreatedAt: models.Now()}
			if _, err := db.NewInsert().Model(c).Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		for _, mode := range []string{"scan", "select"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var rows []*models.Collection
						q := db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids))
						var err error
						if mode == "scan" {
							err = q.Scan(ctx)
						} else {
							err = db.Select(ctx, q)
						}
						if err != nil || len(rows) != len(ids) {
							b.Errorf("%d rows, %v", len(rows), err)
							return
						}
					}
				})
			})
		}
	}
}

// A migration that changes a table under a prepared "*" select (Postgres then refuses the
// statement: "cached plan must not change result type") costs no failed request: the statement is
// prepared anew.
func TestSelectSurvivesTableChange(t *testing.T) {
	ctx := context.Background()
	db, err := models.Open(ctx, models.DBConfig{URL: veiltest.PostgresURL(t), MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE prep_t (id text PRIMARY KEY); INSERT INTO prep_t VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	sel := func() []map[string]any {
		t.Helper()
		var rows []map[string]any
		if err := db.Select(ctx, db.NewSelect().TableExpr("prep_t").ColumnExpr("*").Where("id = ?", "a"), &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if rows := sel(); len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("before: %v", rows)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE prep_t ADD COLUMN extra text"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the refused statement, then the one prepared anew
		if rows := sel(); len(rows) != 1 || len(rows[0]) != 2 {
			t.Fatalf("after, call %d: %v", i, rows)
		}
	}
}
