package models_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// Select scans the slices lists read (images, documents, tags, collections) by hand; every field,
// NULL and set, comes out as bun's own scan gives it, a subset of the columns too, and a column
// the type does not have fails as bun fails.
func TestSelectScansListsByHand(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		root := models.RootCollectionID
		now := models.Now()
		user := "usr_0001"
		five := 5
		col := &models.Collection{ID: "col_scan", ParentID: &root, Name: "Scan", Path: "/" + root + "/col_scan/", CreatedAt: now}
		media := func(id string, set bool) models.MediaFields {
			m := models.MediaFields{ID: id, CollectionID: col.ID, Title: "t " + id, Filename: id + ".bin", StorageKey: "k/" + id,
				ContentType: "application/octet-stream", Size: 1 << 40, SHA256: strings.Repeat(id[4:], 64), CreatedAt: now, UpdatedAt: now.Add(1),
				PrivacyState: models.PrivacyState{Privacy: models.Public, PrivacyLastChanged: now.Add(2)}}
			if set {
				later := now.Add(3)
				m.UploadedBy, m.FilePermissionsLastSet = &user, &later
			}
			return m
		}
		imgs := []*models.Image{
			{MediaFields: media("img_a", true), Alt: "alt", Width: 640, Height: 480, FocalX: &five, FocalY: &five, FocalWidth: &five, FocalHeight: &five},
			{MediaFields: media("img_b", false)},
		}
		docs := []*models.Document{{MediaFields: media("doc_a", true)}, {MediaFields: media("doc_b", false)}}
		tags := []models.MediaTag{{MediaID: "img_a", Tag: "x"}, {MediaID: "img_a", Tag: "y"}, {MediaID: "doc_b", Tag: "z"}}
		for _, m := range []any{col, &imgs, &docs, &tags} {
			if _, err := db.NewInsert().Model(m).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name string
			dest func() any // a new, empty slice
			q    func(*bun.SelectQuery) *bun.SelectQuery
		}{
			{"images", func() any { return &[]*models.Image{} }, func(q *bun.SelectQuery) *bun.SelectQuery { return q.OrderExpr("id") }},
			{"image ids", func() any { return &[]*models.Image{} }, func(q *bun.SelectQuery) *bun.SelectQuery { return q.Column("id", "focal_x").OrderExpr("id") }},
			{"documents", func() any { return &[]*models.Document{} }, func(q *bun.SelectQuery) *bun.SelectQuery { return q.OrderExpr("id") }},
			{"tags", func() any { return &[]models.MediaTag{} }, func(q *bun.SelectQuery) *bun.SelectQuery { return q.OrderExpr("media_id, tag") }},
			{"collections", func() any { return &[]*models.Collection{} }, func(q *bun.SelectQuery) *bun.SelectQuery { return q.OrderExpr("id") }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, want := c.dest(), c.dest()
				q := c.q(db.NewSelect().Model(got))
				if !models.HandScanned(q) {
					t.Fatalf("%T is scanned by bun", got)
				}
				cctx, counter := models.WithQueryCounter(ctx)
				if err := db.Select(cctx, q); err != nil {
					t.Fatal(err)
				}
				if counter.Count() != 1 {
					t.Fatalf("counted %d statements, want 1", counter.Count())
				}
				if err := c.q(db.NewSelect().Model(want)).Scan(ctx); err != nil { // bun's reflection
					t.Fatal(err)
				}
				if reflect.ValueOf(want).Elem().Len() < 2 {
					t.Fatalf("want %d rows, fewer than the test inserted", reflect.ValueOf(want).Elem().Len())
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("hand scan differs from bun's:\ngot  %s\nwant %s", dump(got), dump(want))
				}
			})
		}
		var rows []*models.Image
		err := db.Select(ctx, db.NewSelect().Model(&rows).ColumnExpr("id, 1 AS extra"))
		if err == nil || !strings.Contains(err.Error(), `does not have column "extra"`) {
			t.Fatalf("unknown column: %v, want bun's error", err)
		}
	})
}

// dump shows the rows of a slice, one a line.
func dump(v any) string {
	var b strings.Builder
	s := reflect.ValueOf(v).Elem()
	for i := range s.Len() {
		fmt.Fprintf(&b, "\n  %+v", reflect.Indirect(s.Index(i)).Interface())
	}
	return b.String()
}
