package graph_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/graph"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// fieldProbe serves the schema over srv's services to a gqlgen test client, as the system viewer
// with fresh loaders per request, and records for each field of one object type whether a
// resolver resolved it, and the statement count of the last request.
type fieldProbe struct {
	client *client.Client

	mu       sync.Mutex
	resolver map[string]bool // field → resolved by a resolver (absent: never resolved)
	last     atomic.Pointer[models.QueryCounter]
}

func newFieldProbe(srv *veiltest.Server, object string) *fieldProbe {
	p := &fieldProbe{resolver: map[string]bool{}}
	h := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{Media: srv.Media, Auth: srv.Auth, URLs: server.URLs{}}}))
	h.AddTransport(transport.POST{})
	h.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc.Object == object {
			p.mu.Lock()
			p.resolver[fc.Field.Name] = p.resolver[fc.Field.Name] || fc.IsResolver
			p.mu.Unlock()
		}
		return next(ctx)
	})
	p.client = client.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, n := models.WithQueryCounter(auth.WithViewer(r.Context(), auth.System))
		p.last.Store(n)
		h.ServeHTTP(w, r.WithContext(graph.WithLoaders(ctx, graph.NewLoaders(srv.Media, srv.Auth))))
	}))
	return p
}

// resolved reports whether field was resolved at all, and whether a resolver did it.
func (p *fieldProbe) resolved(field string) (byResolver, seen bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	byResolver, seen = p.resolver[field]
	return byResolver, seen
}

// statements is the number of SQL statements of the last request.
func (p *fieldProbe) statements() int64 { return p.last.Load().Count() }
