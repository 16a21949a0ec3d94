package media

import (
	"fmt"
	"os"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Kind is the type of object an id names; it is the id's prefix.
type Kind string

// The kinds of Veil ids.
const (
	KindImage      Kind = "img"
	KindDocument   Kind = "doc"
	KindCollection Kind = "col"
	KindRendition  Kind = "rnd"
	KindContent    Kind = "cnt"
)

// NewID returns a new opaque, time-sortable id of the given kind, e.g. img_01JD4X….
// Ids are global: the prefix names the kind, so node(id) and references found in a JSON body can
// be resolved without knowing the type first.
func NewID(k Kind) string { return string(k) + "_" + ulid.Make().String() }

// ParseID checks that id is a well-formed Veil id and returns its kind.
func ParseID(id string) (Kind, error) {
	prefix, rest, ok := strings.Cut(id, "_")
	if !ok || len(rest) != ulid.EncodedSize {
		return "", inputErr("id", "%q is not a Veil id", truncate(id, 64))
	}
	switch Kind(prefix) {
	case KindImage, KindDocument, KindCollection, KindRendition, KindContent:
	default:
		return "", inputErr("id", "%q is not a Veil id", truncate(id, 64))
	}
	if _, err := ulid.ParseStrict(rest); err != nil {
		return "", inputErr("id", "%q is not a Veil id", truncate(id, 64))
	}
	return Kind(prefix), nil
}

// KindOfID returns the kind a well-formed id names, or "" for anything else: the one place an
// id's prefix is read.
func KindOfID(id string) Kind {
	k, err := ParseID(id)
	if err != nil {
		return ""
	}
	return k
}

// parseIDOf checks that id is well formed and of kind want.
func parseIDOf(field, id string, want Kind) error {
	k, err := ParseID(id)
	if err != nil {
		var ie *InputError
		if errorsAs(err, &ie) {
			ie.Field = field
		}
		return err
	}
	if k != want {
		return inputErr(field, "%q is not a %s id", truncate(id, 64), kindName(want))
	}
	return nil
}

func kindName(k Kind) string {
	switch k {
	case KindImage:
		return "image"
	case KindDocument:
		return "document"
	case KindCollection:
		return "collection"
	case KindContent:
		return "content"
	default:
		return "rendition"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// newInstanceID names this process in leases: host, pid and a random part, so two processes on one
// host (or a restarted one) never share it.
func newInstanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), ulid.Make().String()[16:])
}
