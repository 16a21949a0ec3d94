package graph_test

import (
	"slices"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/veil-media/veil/veiltest"
)

// TestImageFieldsResolveInPlace: an image's url, tags, collection and rendition resolve as plain
// fields (no resolver, so no goroutine per field and item in gqlgen's executor) on every path that
// returns images — a list's nodes and edges, node(id) through a fragment, image(id) under an alias
// — and each answers what the image holds: the resolver returning the images loaded what its
// selection asked for.
func TestImageFieldsResolveInPlace(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var c struct{ CreateCollection struct{ ID string } }
	srv.GraphQL(`mutation { createCollection(input: {name: "shelf"}) { id } }`, nil).Decode(t, &c)
	var ids []string
	for _, f := range []string{"webp/vnc-d.webp", "webp/truchet-d.webp", "png/Spring.png"} {
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, f)),
			map[string]any{"collectionId": c.CreateCollection.ID, "tags": []string{"b", "a"}})
		ids = append(ids, img.ID)
	}

	probe := newFieldProbe(srv, "Image")
	c2 := probe.client

	type node struct {
		URL        string
		Tags       []string
		T          []string
		Collection struct{ Name string }
		Rendition  struct{ URL string }
	}
	check := func(what string, n node) {
		t.Helper()
		tags := n.Tags
		if tags == nil {
			tags = n.T
		}
		if !slices.Equal(tags, []string{"a", "b"}) || n.Collection.Name != "shelf" || n.URL == "" {
			t.Errorf("%s: %+v", what, n)
		}
	}
	var list struct {
		Images struct {
			Nodes []node
			Edges []struct{ Node node }
		}
	}
	c2.MustPost(`{ images(first: 10) { nodes { url tags collection { name } rendition(spec: "width-400") { url } }
		edges { node { url tags collection { name } } } } }`, &list)
	if len(list.Images.Nodes) != 3 || len(list.Images.Edges) != 3 {
		t.Fatalf("list: %+v", list)
	}
	for i := range list.Images.Nodes {
		check("nodes", list.Images.Nodes[i])
		check("edges", list.Images.Edges[i].Node)
		if list.Images.Nodes[i].Rendition.URL == "" {
			t.Errorf("rendition: %+v", list.Images.Nodes[i])
		}
	}
	var one struct {
		Node  node
		Image node
	}
	c2.MustPost(`query($id: ID!, $yes: Boolean!) { node(id: $id) { ... on Media { ... on Image { url tags collection { name } } } }
		image(id: $id) { url t: tags @include(if: $yes) collection { name } } }`, &one,
		client.Var("id", ids[0]), client.Var("yes", true))
	check("node", one.Node)
	check("image", one.Image)

	for _, f := range []string{"url", "tags", "collection", "rendition"} {
		if r, seen := probe.resolved(f); !seen || r {
			t.Errorf("Image.%s: seen %v, resolver %v (want a plain field)", f, seen, r)
		}
	}
}
