package renditions

// Format is an image format, as used for sources and outputs. Its value is the lower-case name
// used in specs (format-webp).
type Format string

// The formats Veil knows. Only JPEG, PNG, GIF and WebP are accepted as sources.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
	AVIF Format = "avif"
)

// MIMEType returns the media type of f, or "application/octet-stream" for an unknown format.
func (f Format) MIMEType() string {
	switch f {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case GIF:
		return "image/gif"
	case WebP:
		return "image/webp"
	case AVIF:
		return "image/avif"
	}
	return "application/octet-stream"
}

// Extension returns the usual file extension of f with its leading dot (".jpg"), or "" for an
// unknown format.
func (f Format) Extension() string {
	switch f {
	case JPEG:
		return ".jpg"
	case PNG:
		return ".png"
	case GIF:
		return ".gif"
	case WebP:
		return ".webp"
	case AVIF:
		return ".avif"
	}
	return ""
}

// valid reports whether f is one of the known formats.
func (f Format) valid() bool { return f.Extension() != "" }

// hasAlpha reports whether an output in f can carry partial transparency.
func (f Format) hasAlpha() bool { return f == PNG || f == WebP || f == AVIF }

// isSource reports whether f is accepted as a source format.
func (f Format) isSource() bool { return f == JPEG || f == PNG || f == GIF || f == WebP }
