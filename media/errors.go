package media

import (
	"fmt"

	"github.com/veil-media/veil/fault"
)

// ErrNotFound is returned for an id that names nothing the caller may see.
var ErrNotFound = fault.ErrNotFound

// InputError is a client mistake in one input field.
type InputError = fault.InputError

func inputErr(field, format string, args ...any) error { return fault.Inputf(field, format, args...) }

// TooLargeError is an upload over the size limit of its kind. Nothing was stored.
type TooLargeError struct {
	Kind  string // "image" or "document"
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %d bytes", e.Kind, e.Limit)
}

// DuplicateError reports that the same bytes already exist in the same collection.
type DuplicateError struct {
	Kind       string
	ExistingID string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("an identical %s already exists in this collection: %s", e.Kind, e.ExistingID)
}
