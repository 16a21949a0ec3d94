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

func (e *SpecError) Error() string {
	if e.Op == "" {
		return "renditions: invalid spec: " + e.Reason
	}
	return fmt.Sprintf("renditions: invalid spec operation %q: %s", e.Op, e.Reason)
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

func (e *LimitError) Error() string {
	what := limitWords[e.Limit]
	if what == "" {
		what = e.Limit
	}
	if e.Op == "" {
		return fmt.Sprintf("renditions: source image %s %d exceeds the limit %d", what, e.Value, e.Max)
	}
	return fmt.Sprintf("renditions: %q: %s %d exceeds the limit %d", e.Op, what, e.Value, e.Max)
}

var limitWords = map[string]string{
	"MaxSourcePixels": "pixel count",
	"MaxSourceSide":   "side",
	"MaxOutputSide":   "output side",
	"MaxOperations":   "operation count",
	"MaxAVIFPixels":   "AVIF output pixel count",
}
