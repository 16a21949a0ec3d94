//go:build tools

package veil

// The code generator run by `go generate ./...`: importing it here keeps its dependencies in
// go.mod and go.sum through `go mod tidy`, so generation works from a fresh clone.
import _ "github.com/99designs/gqlgen"
