package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
)

// NewCachedComplexity returns the complexity computation the server runs, with its cache of
// introspection costs kept across calls.
func NewCachedComplexity(es graphql.ExecutableSchema, stopAt int) func(ctx context.Context, doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) int {
	cache := lru.New[introCached](256)
	return func(ctx context.Context, doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) int {
		w := newComplexityWalker(es, doc, vars, stopAt)
		w.cache = cache
		return w.selectionSet(ctx, op.SelectionSet)
	}
}
