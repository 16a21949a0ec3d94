package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// marshalSlice marshals a list of objects (internal/gqlgen routes the exec code's
// graphql.MarshalSliceConcurrently calls here). gqlgen starts a goroutine per element, so that
// resolvers of different elements run at once and their dataloader calls meet in one batch; for
// a page of 50 images whose fields are plain values and methods without a context (loaded for
// the whole page by the resolver returning it), those goroutines and their stack growth were a
// fifth of the list query's CPU. So the elements are marshalled one after the other in this
// goroutine when nothing selected under them, at any depth, is a field gqlgen resolves
// concurrently (concurrentFields); otherwise, and for abstract types, as gqlgen does.
func marshalSlice(ctx context.Context, sel ast.SelectionSet, n int, workerLimit int64, omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if n <= 1 || selectsConcurrent(sel) {
		return graphql.MarshalSliceConcurrently(ctx, n, workerLimit, omitPanicHandler, marshalElement)
	}
	ret := make(graphql.Array, n)
	for i := range n {
		// What gqlgen gives each element: its index in a field context of its own, and a panic
		// turned into that element's error.
		elem := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		func() {
			if !omitPanicHandler {
				defer func() {
					if r := recover(); r != nil {
						graphql.AddError(elem, graphql.Recover(elem, r))
						ret[i] = graphql.Null
					}
				}()
			}
			ret[i] = marshalElement(elem, i)
		}()
	}
	return ret
}

// batchable reports whether field ("Type.field") is resolved in a goroutine of its own and may
// meet other elements' calls in a dataloader batch.
func batchable(field string) bool { return concurrentFields[field] && !resolvedWithoutIO[field] }

// resolvedWithoutIO are resolver fields that compute their value from their parent alone (their
// resolvers take a context only because gqlgen's resolver signature has one): marshalling their
// parents in sequence loses them no batch. Keep in step with schema.resolvers.go.
var resolvedWithoutIO = map[string]bool{"Rendition.url": true, "Rendition.format": true, "Rendition.mimeType": true}

// selectsConcurrent reports whether sel, or any selection under it, asks for a batchable field;
// a field of an interface or union type counts as one.
func selectsConcurrent(sel ast.SelectionSet) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name == "__typename" {
				continue
			}
			if s.ObjectDefinition == nil || s.ObjectDefinition.Kind != ast.Object ||
				batchable(s.ObjectDefinition.Name+"."+s.Name) || selectsConcurrent(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if selectsConcurrent(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || selectsConcurrent(s.Definition.SelectionSet) {
				return true
			}
		default:
			return true
		}
	}
	return false
}
