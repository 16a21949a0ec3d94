//go:build !cgo

package renditions

import (
	"errors"
	"image"
)

// Without cgo, WebP sources are decoded whole by golang.org/x/image/webp (see decode).
const webpLibrary = false

var errNotLossyOpaque = errors.New("webp: not decoded by libwebp in this build")

func decodeWebPScaled([]byte, int, int, int, int) (*image.RGBA, error) {
	return nil, errNotLossyOpaque
}
