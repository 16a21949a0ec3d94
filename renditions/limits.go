package renditions

import "fmt"

// Limits are the caps that guard rendition work. A zero (or negative) field means its default;
// see DefaultLimits.
type Limits struct {
	// MaxSourcePixels caps width×height of a source image, as read from its header.
	MaxSourcePixels int64
	// MaxSourceSide caps either side of a source image.
	MaxSourceSide int
	// MaxOutputSide caps the width and the height of an output, and every size written in a spec.
	MaxOutputSide int
	// MaxOperations caps the number of operations in a spec.
	MaxOperations int
	// MaxAVIFPixels caps width×height of an AVIF output. The AVIF encoder (aom in WebAssembly)
	// needs about 34 bytes of memory and, at speed 8, some seconds of CPU per megapixel, far more
	// than the other encoders: a lower cap than MaxOutputSide² keeps one AVIF within the default
	// timeout and a fraction of the memory budget, and refuses bigger ones before any work.
	MaxAVIFPixels int64
}

// DefaultLimits returns the default caps: 50 megapixels and 30,000 pixels a side for sources,
// 4,000 pixels a side for outputs, 4 megapixels for AVIF outputs, and 10 operations a spec.
func DefaultLimits() Limits {
	return Limits{
		MaxSourcePixels: 50_000_000,
		MaxSourceSide:   30_000,
		MaxOutputSide:   4_000,
		MaxOperations:   10,
		MaxAVIFPixels:   4_000_000,
	}
}

// withDefaults returns l with every unset field replaced by its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxSourcePixels <= 0 {
		l.MaxSourcePixels = d.MaxSourcePixels
	}
	if l.MaxSourceSide <= 0 {
		l.MaxSourceSide = d.MaxSourceSide
	}
	if l.MaxOutputSide <= 0 {
		l.MaxOutputSide = d.MaxOutputSide
	}
	if l.MaxOperations <= 0 {
		l.MaxOperations = d.MaxOperations
	}
	if l.MaxAVIFPixels <= 0 {
		l.MaxAVIFPixels = d.MaxAVIFPixels
	}
	return l
}

// Validate reports a setting that can never be right, naming it. Zero fields are valid (they
// mean the default).
func (l Limits) Validate() error {
	switch {
	case l.MaxSourcePixels < 0:
		return configErr("Limits.MaxSourcePixels", "must not be negative, got %d", l.MaxSourcePixels)
	case l.MaxSourceSide < 0:
		return configErr("Limits.MaxSourceSide", "must not be negative, got %d", l.MaxSourceSide)
	case l.MaxOutputSide < 0:
		return configErr("Limits.MaxOutputSide", "must not be negative, got %d", l.MaxOutputSide)
	case l.MaxOutputSide > maxEncodableSide:
		return configErr("Limits.MaxOutputSide", "must be at most %d, got %d", maxEncodableSide, l.MaxOutputSide)
	case l.MaxOperations < 0:
		return configErr("Limits.MaxOperations", "must not be negative, got %d", l.MaxOperations)
	case l.MaxAVIFPixels < 0:
		return configErr("Limits.MaxAVIFPixels", "must not be negative, got %d", l.MaxAVIFPixels)
	}
	return nil
}

// maxEncodableSide is the largest side every output encoder can write (JPEG's 16-bit sizes,
// WebP's 16383).
const maxEncodableSide = 16383

// Options are the settings of Generate. A zero field means its default; see DefaultOptions.
type Options struct {
	// Limits guard the source header, the spec and the output.
	Limits Limits
	// JPEGQuality, WebPQuality and AVIFQuality (1–100) are used when the spec does not set a
	// quality for the output format.
	JPEGQuality, WebPQuality, AVIFQuality int
	// AVIFSpeed (1–10, 10 fastest) is the AVIF encoder's speed setting. Encoding time, not
	// memory, is what it trades for size: see DefaultAVIFSpeed.
	AVIFSpeed int
}

// Default output qualities.
const (
	DefaultJPEGQuality = 76
	DefaultWebPQuality = 80
	DefaultAVIFQuality = 61
	// DefaultAVIFSpeed is aom's speed 8: measured on the corpus it encodes about 1.6× faster
	// than speed 6 for files about 5% larger; 9 and 10 gain little more time here.
	DefaultAVIFSpeed = 8
)

// DefaultOptions returns DefaultLimits, the default qualities (JPEG 76, WebP 80, AVIF 61) and
// the default AVIF speed (8).
func DefaultOptions() Options {
	return Options{
		Limits:      DefaultLimits(),
		JPEGQuality: DefaultJPEGQuality,
		WebPQuality: DefaultWebPQuality,
		AVIFQuality: DefaultAVIFQuality,
		AVIFSpeed:   DefaultAVIFSpeed,
	}
}

// withDefaults returns o with every unset or out-of-range field replaced by its default.
func (o Options) withDefaults() Options {
	o.Limits = o.Limits.withDefaults()
	if o.JPEGQuality < 1 || o.JPEGQuality > 100 {
		o.JPEGQuality = DefaultJPEGQuality
	}
	if o.WebPQuality < 1 || o.WebPQuality > 100 {
		o.WebPQuality = DefaultWebPQuality
	}
	if o.AVIFQuality < 1 || o.AVIFQuality > 100 {
		o.AVIFQuality = DefaultAVIFQuality
	}
	if o.AVIFSpeed < 1 || o.AVIFSpeed > 10 {
		o.AVIFSpeed = DefaultAVIFSpeed
	}
	return o
}

// Validate reports a setting that can never be right, naming it. Zero fields are valid.
func (o Options) Validate() error {
	if err := o.Limits.Validate(); err != nil {
		return err
	}
	for _, q := range []struct {
		name string
		v    int
	}{{"JPEGQuality", o.JPEGQuality}, {"WebPQuality", o.WebPQuality}, {"AVIFQuality", o.AVIFQuality}} {
		if q.v < 0 || q.v > 100 {
			return fmt.Errorf("renditions: Options.%s must be 0 (default) or 1–100, got %d", q.name, q.v)
		}
	}
	if o.AVIFSpeed < 0 || o.AVIFSpeed > 10 {
		return configErr("Options.AVIFSpeed", "must be 0 (default) or 1–10, got %d", o.AVIFSpeed)
	}
	return nil
}

// ConfigError is an invalid field of Options or Limits ("Limits.MaxOutputSide").
type ConfigError struct{ Field, Reason string }

func (e *ConfigError) Error() string { return "renditions: " + e.Field + " " + e.Reason }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
