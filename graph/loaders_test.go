package graph_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/graph"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// TestPageLoadsEachFieldOnce: once a page registers its items, the tags and the collections of
// all of them cost one statement each, however the per-item loads are scheduled (one goroutine
// per item, started one after another, as gqlgen's executor runs them), and every item gets its
// own answer.
func TestPageLoadsEachFieldOnce(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var ids, collections []string
	for i := range 12 {
		var c struct{ CreateCollection struct{ ID string } }
		srv.GraphQL(`mutation($n: String!) { createCollection(input: {name: $n}) { id } }`, map[string]any{"n": fmt.Sprint("c", i)}).Decode(t, &c)
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")),
			map[string]any{"collectionId": c.CreateCollection.ID, "tags": []string{fmt.Sprint("t", i), "all"}})
		ids, collections = append(ids, img.ID), append(collections, c.CreateCollection.ID)
	}
	ctx := auth.WithViewer(context.Background(), auth.System)
	ctx, counter := models.WithQueryCounter(ctx)
	l := graph.NewLoaders(srv.Media, srv.Auth)
	l.SetPage(ids, collections)

	tags := make([][]string, len(ids))
	names := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tt, err := l.LoadTags(ctx, id)
			if err != nil {
				t.Error(err)
				return
			}
			c, err := l.LoadCollection(ctx, id, collections[i])
			if err != nil || c == nil {
				t.Errorf("collection of %s: %v %v", id, c, err)
				return
			}
			tags[i], names[i] = tt, c.Name
		}()
		wg.Wait() // the worst schedule for timed batching: each item after the previous one finished
	}
	if n := counter.Count(); n != 2 {
		t.Errorf("%d statements for the tags and collections of a %d-item page, want 2", n, len(ids))
	}
	for i := range ids {
		if want := fmt.Sprint("t", i); !slices.Contains(tags[i], want) || !slices.Contains(tags[i], "all") {
			t.Errorf("item %d: tags %v", i, tags[i])
		}
		if names[i] != fmt.Sprint("c", i) {
			t.Errorf("item %d: collection %q", i, names[i])
		}
	}
}
