package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/graph"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// TestDocumentFieldsResolveInPlace is TestImageFieldsResolveInPlace for documents: url, tags and
// collection are plain fields on a list's nodes and edges, node(id) through a fragment and
// document(id) under an alias, each answers what the document holds, and a list's tags and
// collections cost one statement each whatever its length (the resolver returning the documents
// loads them for all of them at once).
func TestDocumentFieldsResolveInPlace(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var ids []string
	for i := range 3 {
		var c struct{ CreateCollection struct{ ID string } }
		srv.GraphQL(`mutation($n: String!) { createCollection(input: {name: $n}) { id } }`, map[string]any{"n": fmt.Sprint("shelf", i)}).Decode(t, &c)
		doc := srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf")),
			map[string]any{"collectionId": c.CreateCollection.ID, "tags": []string{fmt.Sprint("t", i), "all"}})
		ids = append(ids, doc.ID)
	}

	h := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{Media: srv.Media, Auth: srv.Auth, URLs: server.URLs{}}}))
	h.AddTransport(transport.POST{})
	var mu sync.Mutex
	resolver := map[string]bool{} // Document field → resolved by a resolver
	h.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc.Object == "Document" {
			mu.Lock()
			resolver[fc.Field.Name] = resolver[fc.Field.Name] || fc.IsResolver
			mu.Unlock()
		}
		return next(ctx)
	})
	var last atomic.Pointer[models.QueryCounter]
	c := client.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, n := models.WithQueryCounter(auth.WithViewer(r.Context(), auth.System))
		last.Store(n)
		h.ServeHTTP(w, r.WithContext(graph.WithLoaders(ctx, graph.NewLoaders(srv.Media, srv.Auth))))
	}))

	type node struct {
		ID         string
		URL        string
		Tags       []string
		Collection struct{ Name string }
	}
	check := func(where string, n node) {
		t.Helper()
		i := slices.Index(ids, n.ID)
		if i < 0 {
			t.Fatalf("%s: unknown document %q", where, n.ID)
		}
		if !strings.Contains(n.URL, "/media/documents/"+n.ID+"/") {
			t.Errorf("%s: url %q", where, n.URL)
		}
		if !slices.Contains(n.Tags, fmt.Sprint("t", i)) || !slices.Contains(n.Tags, "all") {
			t.Errorf("%s: tags %v", where, n.Tags)
		}
		if n.Collection.Name != fmt.Sprint("shelf", i) {
			t.Errorf("%s: collection %q", where, n.Collection.Name)
		}
	}

	statements := map[int]int64{}
	for _, first := range []int{1, 3} {
		var list struct {
			Documents struct {
				Nodes []node
				Edges []struct{ Node node }
			}
		}
		c.MustPost(`query($n: Int) { documents(first: $n) {
			nodes { id url tags collection { name } }
			edges { node { id url tags collection { name } } } } }`, &list, client.Var("n", first))
		if len(list.Documents.Nodes) != first || len(list.Documents.Edges) != first {
			t.Fatalf("documents(first: %d): %d nodes, %d edges", first, len(list.Documents.Nodes), len(list.Documents.Edges))
		}
		for i := range first {
			check("nodes", list.Documents.Nodes[i])
			check("edges", list.Documents.Edges[i].Node)
		}
		statements[first] = last.Load().Count()
	}
	if statements[1] != statements[3] || statements[3] > 3 {
		t.Errorf("statements per documents list by length: %v (want the same, at most 3: page, tags, collections)", statements)
	}

	var one struct {
		Node node
		D    node
	}
	c.MustPost(`query($id: ID!) {
		node(id: $id) { ...F }
		d: document(id: $id) { id url tags collection { name } } }
		fragment F on Media { ... on Document { id url tags collection { name } } }`, &one, client.Var("id", ids[1]))
	check("node", one.Node)
	check("document", one.D)

	for _, f := range []string{"url", "tags", "collection"} {
		if resolver[f] {
			t.Errorf("Document.%s is resolved by a resolver (want a plain field)", f)
		}
	}
}
