package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/veil-media/veil/fault"
)

// TestKindsAndMessages: a domain error matches its kind's sentinel however it is wrapped, keeps
// its public message apart from its internal cause, and an internal error has no kind or message.
func TestKindsAndMessages(t *testing.T) {
	cause := errors.New("sql: no rows in result set")
	nf := fmt.Errorf("media: image img_1: %w", &fault.Error{Kind: fault.NotFound, Message: "not found", Cause: cause})
	forb := fmt.Errorf("media: upload: %w", fault.Forbiddenf("needs %s on this collection", "ADD"))
	unauth := fault.Unauthenticatedf("token expired")
	input := fmt.Errorf("wrapped: %w", fault.Inputf("spec", "unknown operation %q", "blur-9"))
	internal := errors.New("disk on fire")

	for _, c := range []struct {
		err      error
		sentinel error
		kind     fault.Kind
		message  string
	}{
		{nf, fault.ErrNotFound, fault.NotFound, "not found"},
		{forb, fault.ErrForbidden, fault.Forbidden, "needs ADD on this collection"},
		{unauth, fault.ErrUnauthenticated, fault.Unauthenticated, "token expired"},
		{input, nil, fault.Invalid, `spec: unknown operation "blur-9"`},
		{internal, nil, "", ""},
	} {
		if c.sentinel != nil && !errors.Is(c.err, c.sentinel) {
			t.Errorf("%v is not %v", c.err, c.sentinel)
		}
		if k := fault.KindOf(c.err); k != c.kind {
			t.Errorf("KindOf(%v) = %q, want %q", c.err, k, c.kind)
		}
		if m := fault.Message(c.err); m != c.message {
			t.Errorf("Message(%v) = %q, want %q", c.err, m, c.message)
		}
	}
	if !errors.Is(nf, cause) {
		t.Error("the internal cause is lost")
	}
	if errors.Is(forb, fault.ErrNotFound) || errors.Is(unauth, fault.ErrForbidden) || errors.Is(internal, fault.ErrNotFound) {
		t.Error("a kind matches another kind's sentinel")
	}
	// A non-sentinel error of the same kind is not a sentinel for others.
	if errors.Is(fault.ErrNotFound, nf) {
		t.Error("the sentinel matches a particular error")
	}
}
