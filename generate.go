// Package veil is the root of Veil's module. It holds only the code-generation entry point:
// `go generate ./...` regenerates the GraphQL executable schema from schema.graphqls and gqlgen.yml
// (internal/gqlgen: gqlgen, and the list marshalling it routes through graph.marshalSlice).
package veil

//go:generate go run ./internal/gqlgen
