package server

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/veil-media/veil/media"
)

// uploadRollback makes a mutation that stores files all or nothing for its client: when the
// answer has no data (a non-null field failed, which nulls the whole answer), the items stored
// by its earlier fields are deleted, since their ids never reach the client. An answer with data
// carries every item stored, each under its own field.
type uploadRollback struct {
	media *media.Service
	log   *slog.Logger
}

var _ interface {
	graphql.OperationInterceptor
	graphql.HandlerExtension
} = uploadRollback{}

func (uploadRollback) ExtensionName() string                   { return "VeilUploadRollback" }
func (uploadRollback) Validate(graphql.ExecutableSchema) error { return nil }

func (u uploadRollback) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return next(ctx)
	}
	ctx, uploads := media.WithUploadLog(ctx)
	handle := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := handle(ctx)
		if resp == nil || (len(resp.Data) > 0 && string(resp.Data) != "null") || uploads.Len() == 0 {
			return resp
		}
		discarded := map[string]bool{}
		for _, id := range uploads.IDs() {
			discarded[id] = true
		}
		if err := u.media.DiscardUploads(ctx, uploads); err != nil {
			u.log.ErrorContext(ctx, "failed mutation: stored items not taken back", "request_id", RequestID(ctx), "err", err)
			return resp
		}
		// A DUPLICATE of an item this request stored names an item that no longer exists.
		for _, e := range resp.Errors {
			if id, _ := e.Extensions["existingId"].(string); discarded[id] {
				delete(e.Extensions, "existingId")
				e.Message += " (stored earlier in this request, which failed as a whole: nothing was kept)"
			}
		}
		return resp
	}
}
