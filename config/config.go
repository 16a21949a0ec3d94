// Package config holds the one error type every package's Config.Validate returns: a field name
// and a reason. Packages speak in their own field names ("MaxImageBytes"); the composition root
// (package app) prefixes the path of the package's Config ("Media.MaxImageBytes") and turns it
// into the flag or VEIL_* variable the operator set, from its table of settings.
package config

import (
	"errors"
	"fmt"
)

// FieldError is an invalid configuration field.
type FieldError struct {
	// Field is the dotted path of the field below the Config that returned it ("Timeout",
	// "Renditions.Timeout").
	Field string
	// Reason says what is wrong, for a person ("is not positive").
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Within prefixes the field of every *FieldError in err (a single error or an errors.Join of
// them) with parent, for a Config that validates a nested one. Other errors pass unchanged.
func Within(parent string, err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	for _, e := range Fields(err) {
		if fe, ok := e.(*FieldError); ok {
			e = &FieldError{Field: parent + "." + fe.Field, Reason: fe.Reason}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// Fields flattens err (possibly an errors.Join tree) into its leaves.
func Fields(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Fields(e)...)
		}
		return out
	}
	return []error{err}
}
