package graph

import (
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestSelectsConcurrent checks marshalSlice's rule on queries validated against Veil's schema:
// a page of images is marshalled in one goroutine only when nothing selected under its elements
// is resolved concurrently (then their dataloader calls would no longer meet in one batch).
func TestSelectsConcurrent(t *testing.T) {
	src, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema := gqlparser.MustLoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(src)})
	for _, c := range []struct {
		name, query string
		want        bool
	}{
		{"lean", `{ images(first: 50) { nodes { id title url } } }`, false},
		{"full", `{ images(first: 50) { nodes { id title alt filename url fileSize contentType sha256 width height privacy createdAt updatedAt
			focalPoint { x y width height } tags collection { id name } rendition(spec: "width-400") { url } __typename } } }`, false},
		{"a resolver field", `{ images(first: 50) { nodes { id canDelete } } }`, true},
		{"a resolver field under a plain one", `{ images(first: 50) { nodes { id collection { id parent { id } } } } }`, true},
		{"in an inline fragment", `{ images(first: 50) { nodes { id ... on Image { usage { content { id } } } } } }`, true},
		{"in a named fragment", `query { images(first: 50) { nodes { ...F } } } fragment F on Image { id srcset(specs: ["width-100"]) }`, true},
		{"plain fields in a named fragment", `query { images(first: 50) { nodes { ...F } } } fragment F on Image { id title }`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(schema, c.query)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			nodes := findField(doc.Operations[0].SelectionSet, "nodes")
			if nodes == nil {
				t.Fatal("no nodes field")
			}
			if got := selectsConcurrent(nodes.SelectionSet); got != c.want {
				t.Errorf("selectsConcurrent = %v, want %v", got, c.want)
			}
		})
	}
	for _, f := range []string{"Image.canDelete", "Image.usage", "Collection.parent"} {
		if !concurrentFields[f] {
			t.Errorf("concurrentFields lacks %s", f)
		}
	}
	for _, f := range []string{"Image.title", "Image.tags", "Image.collection", "Image.rendition", "Image.url", "Rendition.url"} {
		if batchable(f) {
			t.Errorf("%s is batchable: a plain field, or a resolver without I/O", f)
		}
	}
}

func findField(sel ast.SelectionSet, name string) *ast.Field {
	for _, s := range sel {
		if f, ok := s.(*ast.Field); ok {
			if f.Name == name {
				return f
			}
			if found := findField(f.SelectionSet, name); found != nil {
				return found
			}
		}
	}
	return nil
}
