package server_test

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/veil-media/veil/server"
)

// naive expands every spread (exponential: only for small documents) and returns the fields,
// aliases and field depth of ss, or ok=false past budget nodes or on a cycle.
func naive(doc *ast.QueryDocument, ss ast.SelectionSet, stack map[string]bool, budget *int) (fields, aliases, depth int, ok bool) {
	for _, sel := range ss {
		if *budget--; *budget < 0 {
			return 0, 0, 0, false
		}
		var f, a, d int
		switch sel := sel.(type) {
		case *ast.Field:
			f, a, d, ok = naive(doc, sel.SelectionSet, stack, budget)
			f++
			d++
			if sel.Alias != "" && sel.Alias != sel.Name {
				a++
			}
		case *ast.InlineFragment:
			f, a, d, ok = naive(doc, sel.SelectionSet, stack, budget)
		case *ast.FragmentSpread:
			def := doc.Fragments.ForName(sel.Name)
			if def == nil {
				continue
			}
			if stack[sel.Name] {
				return 0, 0, 0, false
			}
			stack[sel.Name] = true
			f, a, d, ok = naive(doc, def.SelectionSet, stack, budget)
			delete(stack, sel.Name)
		}
		if !ok {
			return 0, 0, 0, false
		}
		fields, aliases, depth = fields+f, aliases+a, max(depth, d)
	}
	return fields, aliases, depth, true
}

// FuzzMeasureDocument: MeasureDocument never panics, finishes on any parsed document, and its
// memoised counts equal those of expanding every spread (when that is small enough to do).
//
//	go test ./server -run '^$' -fuzz FuzzMeasureDocument -fuzztime 60s
func FuzzMeasureDocument(f *testing.F) {
	f.Add(fanOut(8))
	f.Add(graphiQLIntrospection)
	f.Add(imagesFirst50)
	f.Add("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
	f.Add(`query Q($x: [Int] = [[1]]) @d { a: b(c: {d: [1, {e: 2}]}) @skip(if: true) { ... on T { f ...G } } } fragment G on T { g: h }`)
	f.Fuzz(func(t *testing.T, q string) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, 2000)
		if err != nil {
			return
		}
		c := server.MeasureDocument(doc, 1<<20, 1<<20)
		if c.Aliases > c.Fields || c.Operations != len(doc.Operations) || c.Fragments != len(doc.Fragments) {
			t.Fatalf("inconsistent %v", c)
		}
		seen := map[string]bool{}
		for _, fr := range doc.Fragments {
			if seen[fr.Name] {
				return // duplicate names: validation refuses them; the first one is measured
			}
			seen[fr.Name] = true
		}
		var want struct{ fields, aliases, depth int }
		roots := []ast.SelectionSet{}
		for _, op := range doc.Operations {
			roots = append(roots, op.SelectionSet)
		}
		for _, fr := range doc.Fragments {
			roots = append(roots, fr.SelectionSet)
		}
		for _, ss := range roots {
			budget := 100_000
			fl, al, d, ok := naive(doc, ss, map[string]bool{}, &budget)
			if !ok {
				if budget >= 0 && c.Cycle == nil {
					t.Fatalf("naive expansion found a cycle that MeasureDocument did not: %v", c)
				}
				return
			}
			want.fields, want.aliases, want.depth = max(want.fields, fl), max(want.aliases, al), max(want.depth, d)
		}
		if c.Cycle != nil {
			t.Fatalf("MeasureDocument reports cycle %v, naive expansion finds none", c.Cycle)
		}
		if c.Fields != want.fields || c.Aliases != want.aliases || c.Depth < want.depth {
			t.Fatalf("measured %v, expanding gives fields=%d aliases=%d depth≥%d", c, want.fields, want.aliases, want.depth)
		}
	})
}
