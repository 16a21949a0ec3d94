package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/veil-media/veil/media"
)

// CodePreviewReadOnly is the code of an operation a preview token may not run: anything but a
// query of the fields in previewFields.
const CodePreviewReadOnly = "PREVIEW_READ_ONLY"

// previewFields are the root fields a preview token may query: the draft's media by id (each
// answers NOT_FOUND for an item the draft does not reference), and the schema.
var previewFields = map[string]bool{"image": true, "document": true, "node": true,
	"__typename": true, "__schema": true, "__type": true}

// previewToken returns the preview token an Authorization header carries: scheme Preview, or
// Bearer with a token that is not an API token (those start with "veil_"; preview tokens are
// "<claims>.<signature>").
func previewToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	tok = strings.TrimSpace(tok)
	switch {
	case !ok || tok == "":
		return "", false
	case strings.EqualFold(scheme, "Preview"):
		return tok, true
	case strings.EqualFold(scheme, "Bearer") && !strings.HasPrefix(tok, "veil_") && strings.Contains(tok, "."):
		return tok, true
	}
	return "", false
}

// previewScope keeps a request authenticated by a preview token to what a preview page needs:
// queries of previewFields. Mutations, subscriptions and other fields are refused with
// PREVIEW_READ_ONLY before anything runs.
type previewScope struct{}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = previewScope{}

func (previewScope) ExtensionName() string                   { return "VeilPreviewScope" }
func (previewScope) Validate(graphql.ExecutableSchema) error { return nil }

func (previewScope) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if !media.PreviewOnly(ctx) || oc.Operation == nil {
		return nil
	}
	refuse := func(format string, args ...any) *gqlerror.Error {
		err := gqlerror.Errorf(format, args...)
		err.Extensions = map[string]any{"code": CodePreviewReadOnly}
		return err
	}
	if oc.Operation.Operation != ast.Query {
		return refuse("a preview token is read-only: it cannot run a %s (use an API token)", oc.Operation.Operation)
	}
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Query"}) {
		if !previewFields[f.Name] {
			return refuse("a preview token can query image, document and node (the draft's media) only, not %s", f.Name)
		}
	}
	return nil
}
