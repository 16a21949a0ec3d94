// Package veil is the root of Veil's module. It holds only the code-generation entry point:
// `go generate ./...` regenerates the GraphQL executable schema from schema.graphqls and gqlgen.yml.
package veil

//go:generate go run github.com/99designs/gqlgen generate --config gqlgen.yml
