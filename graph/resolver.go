// Package graph holds Veil's GraphQL resolvers (thin: they parse arguments, call media and map
// errors), the generated executable schema, and the per-request dataloaders.
package graph

import (
	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
)

// Resolver is the dependency root of the schema.
type Resolver struct {
	Media *media.Service
	Auth  *auth.Service
	URLs  URLBuilder
}

// URLBuilder makes the URLs the API hands out.
type URLBuilder interface {
	// Absolute turns a server path ("/media/…") into the URL clients should use; absolute URLs
	// (direct storage URLs) pass through.
	Absolute(path string) string
}
