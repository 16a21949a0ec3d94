package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/veil-media/veil/graph"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// BenchmarkFragmentFanOut measures how long a refused document takes to be answered over
// loopback HTTP, anonymously (the target is < 50 ms).
//
//	go test ./server -run '^$' -bench FragmentFanOut -benchtime 200x
func BenchmarkFragmentFanOut(b *testing.B) {
	srv := veiltest.NewServer(b, veiltest.SQLite(b), nil)
	rep := func(n int, s string) string { return strings.Repeat(s+" ", n) }
	docs := []struct{ name, query string }{
		{"F40", fanOut(40)},
		{"aliases", "{ " + func() string {
			var sb strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&sb, "a%d: __typename ", i)
			}
			return sb.String()
		}() + "}"},
		{"repeated-subtrees", "{ " + rep(600, "images { nodes { id } }") + "}"},
		{"tokens", "{ " + rep(12000, "__typename") + "}"},
	}
	for _, d := range docs {
		b.Run(d.name, func(b *testing.B) {
			for b.Loop() {
				status, _ := askBench(b, srv, d.query)
				if status != http.StatusOK { // refused: a request error, 200 for application/json
					b.Fatalf("status %d", status)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

func askBench(b *testing.B, srv *veiltest.Server, query string) (int, int) {
	r := srv.As("").GraphQL(query, nil)
	return r.Status, len(r.Raw)
}

// BenchmarkQueryChecks compares, in one run, what f7a2da4 did to admit a document (parse,
// validate, gqlgen's complexity walk) with what Veil does now (the shape check with its own parse,
// then parse, validate, the memoised complexity walk with introspection), for a new document and
// for one found in the query cache (then the shape check is skipped).
//
//	go test ./server -run '^$' -bench QueryChecks -benchtime 2s -count 5
func BenchmarkQueryChecks(b *testing.B) {
	es := graph.NewExecutableSchema(graph.Config{})
	limits := server.DefaultQueryLimits()
	spreads := func(n int, format string) string {
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, format, i, i+1, i)
		}
		return sb.String()
	}
	docs := map[string]string{
		"images-first-50":        imagesFirst50,
		"graphiql-introspection": graphiQLIntrospection,
		// The most expensive documents the default limits accept, for gqlgen's validator (its
		// OverlappingFieldsCanBeMerged rule compares fragment pairs and spread chains).
		"worst-50-fragment-pairs": "{ " + spreads(50, "...I%[1]d ") + "} " +
			spreads(50, "fragment I%[1]d on Query { images { nodes { id title } } } "),
		"worst-fragment-chain": "{ ...C0 } " + spreads(49, "fragment C%d on Query { ...C%d a%d: __typename } ") +
			"fragment C49 on Query { __typename }",
		"worst-merge-pairs": "{ " + strings.Repeat("__typename ", 140) + "}",
	}
	for name, q := range docs {
		validate := func() (*ast.QueryDocument, *ast.OperationDefinition) {
			doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, limits.MaxTokens)
			if err != nil {
				b.Fatal(err)
			}
			if errs := validator.ValidateWithRules(es.Schema(), doc, rules.NewDefaultRules()); len(errs) > 0 {
				b.Fatal(errs)
			}
			return doc, doc.Operations[0]
		}
		ctx := context.Background()
		vars := map[string]any{}
		b.Run(name+"/new/before", func(b *testing.B) {
			for b.Loop() {
				_, op := validate()
				complexity.Calculate(ctx, es, op, vars)
			}
		})
		b.Run(name+"/new/after", func(b *testing.B) {
			for b.Loop() {
				if err := limits.Check(q); err != nil {
					b.Fatal(err)
				}
				doc, op := validate()
				server.OperationComplexity(ctx, es, doc, op, vars, 5000)
			}
		})
		doc, op := validate()
		cached := server.NewCachedComplexity(es, 5000)
		b.Run(name+"/cached/before", func(b *testing.B) {
			for b.Loop() {
				complexity.Calculate(ctx, es, op, vars)
			}
		})
		b.Run(name+"/cached/after", func(b *testing.B) {
			for b.Loop() {
				cached(ctx, doc, op, vars)
			}
		})
	}
}
