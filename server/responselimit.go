package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeResponseTooLarge is the code of a response refused because its data would exceed
// Config.MaxResponseBytes.
const CodeResponseTooLarge = "RESPONSE_TOO_LARGE"

// responseLimit bounds the data of every response (a query's, a mutation's, each subscription
// event's) to max bytes. The complexity limit is the primary bound; this is the backstop:
//
//   - while fields resolve, an estimate of the bytes each adds (its response name and its value)
//     is counted; once past the limit, every further field resolves to an error without running,
//     so the work and the memory of an oversized answer stop near the limit;
//   - after marshalling, the exact size is checked.
//
// Either way the whole response is replaced by one RESPONSE_TOO_LARGE error with data null: a
// truncated answer is never sent.
type responseLimit struct{ max int64 }

var _ interface {
	graphql.ResponseInterceptor
	graphql.FieldInterceptor
	graphql.HandlerExtension
} = responseLimit{}

type responseBudgetKey struct{}

type responseBudget struct {
	used atomic.Int64
}

// errResponseBudget is what fields resolve to once the response is over its limit (the error
// presenter codes it RESPONSE_TOO_LARGE without logging).
var errResponseBudget = errors.New("server: response too large")

func (responseLimit) ExtensionName() string                   { return "VeilResponseLimit" }
func (responseLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (r responseLimit) tooLarge() *gqlerror.Error {
	err := gqlerror.Errorf("the response is larger than the limit of %d bytes; ask for fewer fields, aliases or items", r.max)
	err.Extensions = map[string]any{"code": CodeResponseTooLarge, "limit": r.max, "setting": "VEIL_MAX_RESPONSE_BYTES"}
	return err
}

func (r responseLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	b := &responseBudget{}
	if graphql.HasOperationContext(ctx) && isSubscription(graphql.GetOperationContext(ctx)) {
		// An event is one small payload of a fixed type: only its marshalled size is checked,
		// so fan-out to many subscribers pays no per-field accounting.
		resp := next(ctx)
		if resp != nil && int64(len(resp.Data)) > r.max {
			return &graphql.Response{Errors: gqlerror.List{r.tooLarge()}, Extensions: resp.Extensions}
		}
		return resp
	}
	resp := next(context.WithValue(ctx, responseBudgetKey{}, b))
	if resp == nil {
		return nil
	}
	if b.used.Load() > r.max || int64(len(resp.Data)) > r.max {
		return &graphql.Response{Errors: gqlerror.List{r.tooLarge()}, Extensions: resp.Extensions}
	}
	return resp
}

func (r responseLimit) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	b, _ := ctx.Value(responseBudgetKey{}).(*responseBudget)
	if b == nil {
		return next(ctx)
	}
	if b.used.Load() > r.max {
		return nil, errResponseBudget
	}
	res, err := next(ctx)
	n := int64(8) // quotes, colon, comma, braces
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		n += int64(len(fc.Field.Alias))
	}
	n += estimateJSON(res)
	if b.used.Add(n) > r.max {
		return nil, errResponseBudget
	}
	return res, err
}

// estimateJSON is a lower bound of the bytes v adds to a response by itself (objects and lists
// of objects are counted through their own fields).
func estimateJSON(v any) int64 {
	switch v := v.(type) {
	case nil:
		return 4
	case string:
		return int64(len(v)) + 2
	case *string:
		if v == nil {
			return 4
		}
		return int64(len(*v)) + 2
	case []string:
		n := int64(2)
		for _, s := range v {
			n += int64(len(s)) + 3
		}
		return n
	case time.Time, *time.Time:
		return 30
	case []byte:
		return int64(len(v))
	default:
		return 8
	}
}

func isSubscription(oc *graphql.OperationContext) bool {
	return oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Subscription
}
