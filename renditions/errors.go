package renditions

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsupportedFormat reports a source that is not one of the accepted formats (JPEG, PNG,
	// GIF, WebP), or a variant of one that cannot be decoded (arithmetic-coded or 12-bit JPEG,
	// animated WebP).
	ErrUnsupportedFormat = errors.New("renditions: unsupported image format")

	// ErrAnimatedWebP reports an animated WebP source. It wraps ErrUnsupportedFormat, so it is
	// also that error; callers that want to say precisely what is wrong test for it first.
	ErrAnimatedWebP = fmt.Errorf("%w: animated WebP is not supported", ErrUnsupportedFormat)

	// ErrCorrupt reports a source whose header cannot be parsed, whose header is larger than
	// InspectReadLimit, or whose data is truncated or broken.
	ErrCorrupt = errors.New("renditions: corrupt or truncated image")

	// ErrFormatNotSupported reports an output format that this build cannot encode (WebP and
	// AVIF until an encoder is registered). It is returned by Spec.Plan, before any pixel work.
	ErrFormatNotSupported = errors.New("format not supported")
)

// SpecError reports an invalid filter spec. Op is the offending operation as written (empty
// when the problem is the spec as a whole, e.g. an empty spec) and Reason says what is wrong
// with it in words fit for an API user.
type SpecError struct {
	Op     string
	Reason string
}

func (e *SpecError) Error() string { return "renditions: " + e.Message() }

// Message is the error in words fit for an API user, without the package prefix.
func (e *SpecError) Message() string {
	if e.Op == "" {
		return "invalid spec: " + e.Reason
	}
	return fmt.Sprintf("invalid spec operation %q: %s", e.Op, e.Reason)
}

// LimitError reports a spec or a source image over one of the caps in Limits. Op is the spec
// operation at fault (empty when the source image itself is over a cap), Limit names the
// Limits field that was exceeded, Value is the offending amount and Max the cap.
type LimitError struct {
	Op    string
	Limit string
	Value int64
	Max   int64
}

func (e *LimitError) Error() string { return "renditions: " + e.Message() }

// Message is the error in words fit for an API user, without the package prefix.
func (e *LimitError) Message() string {
	what := limitWords[e.Limit]
	if what == "" {
		what = e.Limit
	}
	if e.Op == "" {
		return fmt.Sprintf("source image %s %d exceeds the limit %d", what, e.Value, e.Max)
	}
	return fmt.Sprintf("%q: %s %d exceeds the limit %d", e.Op, what, e.Value, e.Max)
}

// PlanError is a rendition Spec.Plan refuses for the source it was given: What says of what
// ("output avif", "source size 0x0"), Err is ErrFormatNotSupported, ErrUnsupportedFormat or
// ErrCorrupt.
type PlanError struct {
	What string
	Err  error
}

func (e *PlanError) Error() string { return "renditions: " + e.What + ": " + e.Err.Error() }
func (e *PlanError) Unwrap() error { return e.Err }

// Message is the error in words fit for an API user, without the package prefix.
func (e *PlanError) Message() string {
	words := map[error]string{ErrCorrupt: "corrupt or truncated image", ErrUnsupportedFormat: "unsupported image format", ErrFormatNotSupported: "format not supported"}[e.Err]
	if words == "" {
		words = "cannot be made"
	}
	return e.What + ": " + words
}

// Message returns what an API user may be told of an error of this package (a *SpecError,
// *LimitError or *PlanError), and false for any other error.
func Message(err error) (string, bool) {
	var m interface{ Message() string }
	if errors.As(err, &m) {
		return m.Message(), true
	}
	return "", false
}

var limitWords = map[string]string{
	"MaxSourcePixels": "pixel count",
	"MaxSourceSide":   "side",
	"MaxOutputSide":   "output side",
	"MaxOperations":   "operation count",
	"MaxAVIFPixels":   "AVIF output pixel count",
}
