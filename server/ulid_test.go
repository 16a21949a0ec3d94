package server_test

import (
	"testing"

	"github.com/oklog/ulid/v2"
)

func newULID(t testing.TB) string { return ulid.Make().String() }
