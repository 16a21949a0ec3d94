// Package fault is Veil's one error vocabulary for what a client may be told: a Kind (which is
// also the GraphQL extensions.code), a public message, and, kept out of what clients see, the
// internal cause. Packages return these (or wrap them with %w); the server turns a Kind into a
// GraphQL code and an HTTP status in exactly one place each, with errors.Is/As, never by reading
// message text. Errors that are not a *Error are internal: logged with a request id, never shown.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the client. Its value is the GraphQL extensions.code.
type Kind string

// The kinds (and GraphQL codes) a domain error may have.
const (
	Invalid         Kind = "BAD_USER_INPUT"
	NotFound        Kind = "NOT_FOUND"
	Unauthenticated Kind = "UNAUTHENTICATED"
	Forbidden       Kind = "FORBIDDEN"
	Conflict        Kind = "CONFLICT"
)

// Error is an error a client may be told about.
type Error struct {
	Kind Kind
	// sentinel marks the package's Err* values, which match every Error of their kind.
	sentinel bool
	// Message is safe to show the client ("needs PUBLISH", "token expired").
	Message string
	// Cause is the internal error behind it, for logs and errors.Is/As; never shown.
	Cause error
}

// Error reads "<kind>: <message>" for logs.
func (e *Error) Error() string {
	prefix := map[Kind]string{NotFound: "not found", Unauthenticated: "unauthenticated", Forbidden: "forbidden", Conflict: "conflict", Invalid: "invalid input"}[e.Kind]
	if e.Message == "" || e.Message == prefix {
		return prefix
	}
	return prefix + ": " + e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is matches the sentinel of the same Kind (ErrNotFound, ErrUnauthenticated, ErrForbidden,
// ErrConflict), whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Kind == e.Kind
}

func (e *Error) sentinelOf() *Error { e.sentinel = true; return e }

// The sentinels: errors.Is(err, fault.ErrNotFound) holds for every NotFound error.
var (
	// ErrNotFound: the id names nothing the viewer may see.
	ErrNotFound = (&Error{Kind: NotFound, Message: "not found"}).sentinelOf()
	// ErrUnauthenticated: credentials are missing where needed, or bad, expired or revoked. Bad
	// credentials are refused, never treated as anonymous.
	ErrUnauthenticated = (&Error{Kind: Unauthenticated}).sentinelOf()
	// ErrForbidden: a known viewer lacks a permission on something they may know exists.
	ErrForbidden = (&Error{Kind: Forbidden}).sentinelOf()
	// ErrConflict: the request conflicts with the current state.
	ErrConflict = (&Error{Kind: Conflict}).sentinelOf()
)

// Unauthenticatedf says why credentials are refused.
func Unauthenticatedf(format string, args ...any) error {
	return &Error{Kind: Unauthenticated, Message: fmt.Sprintf(format, args...)}
}

// Forbiddenf says which permission is missing.
func Forbiddenf(format string, args ...any) error {
	return &Error{Kind: Forbidden, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf is a NotFound whose message names what was looked for; the client is told only
// "not found".
func NotFoundf(format string, args ...any) error {
	return &Error{Kind: NotFound, Message: "not found", Cause: fmt.Errorf(format, args...)}
}

// InputError is a client mistake in one input field.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Inputf returns an *InputError for field.
func Inputf(field, format string, args ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of err: that of the first *Error or *InputError in its chain, or ""
// for an internal error.
func KindOf(err error) Kind {
	var ie *InputError
	if errors.As(err, &ie) {
		return Invalid
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return ""
}

// Message returns what the client may be told of err: the message of its first *Error or
// *InputError, or "" for an internal error.
func Message(err error) string {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie.Error()
	}
	var fe *Error
	if errors.As(err, &fe) {
		if fe.Message == "" {
			return fe.Error()
		}
		return fe.Message
	}
	return ""
}
