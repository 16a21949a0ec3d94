package server

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/veil-media/veil/graph"
)

// CodeSubscriptionTransport is the code of a subscription sent over a transport that answers
// once (a plain POST, a GET, a multipart request): subscriptions need a websocket
// (graphql-transport-ws or the legacy graphql-ws) or server-sent events (POST with
// Accept: text/event-stream).
const CodeSubscriptionTransport = "SUBSCRIPTION_TRANSPORT"

// A protocol error, like QUERY_TOO_COMPLEX: a request error over HTTP (200 for application/json,
// 400 for application/graphql-response+json, no data entry), and the request never executes.
func init() { errcode.RegisterErrorType(CodeSubscriptionTransport, errcode.KindProtocol) }

// subscriptionTransport refuses a subscription on a one-shot request once its operation is
// known, before it executes: otherwise the request would wait for the first event (and hold
// graceful shutdown for as long).
type subscriptionTransport struct{}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = subscriptionTransport{}

type oneShotKey struct{}

// withOneShot marks ctx as a request that a one-shot transport (GET, POST, multipart) serves.
func withOneShot(ctx context.Context) context.Context {
	return context.WithValue(ctx, oneShotKey{}, true)
}

// isOneShot reports a request neither the websocket nor the SSE transport serves (the same tests
// those transports' Supports make; they are registered first).
func isOneShot(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && !(transport.SSE{}).Supports(r)
}

func (subscriptionTransport) ExtensionName() string                   { return "VeilSubscriptionTransport" }
func (subscriptionTransport) Validate(graphql.ExecutableSchema) error { return nil }

func (subscriptionTransport) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oneShot, _ := ctx.Value(oneShotKey{}).(bool); !oneShot || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return nil
	}
	err := gqlerror.Errorf("subscriptions need a streaming transport: a websocket (subprotocol graphql-transport-ws or graphql-ws) or server-sent events (POST with Accept: text/event-stream)")
	err.Extensions = map[string]any{"code": CodeSubscriptionTransport}
	return err
}

// CodeSubscriberTooSlow is the code of the last message of a subscription the server dropped
// because its client fell behind (events.SlowSubscriberError): the stream completes after it.
const CodeSubscriberTooSlow = "SUBSCRIBER_TOO_SLOW"

// streamEndReport gives a subscription whose stream ended for a reason the client must know
// (graph.StreamEndError) one last response carrying that reason as a coded error, before the
// transport completes the stream: "next" with errors on graphql-transport-ws, "data" with errors
// on the legacy protocol, "event: next" with errors over SSE.
type streamEndReport struct{}

var _ interface {
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
	graphql.HandlerExtension
} = streamEndReport{}

func (streamEndReport) ExtensionName() string                   { return "VeilStreamEndReport" }
func (streamEndReport) Validate(graphql.ExecutableSchema) error { return nil }

func (streamEndReport) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if graphql.HasOperationContext(ctx) && isSubscription(graphql.GetOperationContext(ctx)) {
		ctx = graph.WithStreamEnd(ctx)
	}
	return next(ctx)
}

func (streamEndReport) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil {
		return resp
	}
	if err := graph.StreamEndError(ctx); err != nil {
		graphql.AddError(ctx, err)
		return &graphql.Response{Errors: graphql.GetErrors(ctx)}
	}
	return nil
}
