package graph_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

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

	probe := newFieldProbe(srv, "Document")
	c := probe.client

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
		statements[first] = probe.statements()
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
		if r, _ := probe.resolved(f); r {
			t.Errorf("Document.%s is resolved by a resolver (want a plain field)", f)
		}
	}
}
