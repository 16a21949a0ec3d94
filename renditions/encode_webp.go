package renditions

import (
	"image"
	"io"

	"github.com/gen2brain/webp"
)

// WebP output comes from libwebp compiled to pure Go (github.com/gen2brain/webp): lossy with a
// quality, or lossless. Without the nodynamic build tag the library first tries a system
// libwebp.so; both produce the same format.
func init() { encoders[WebP] = encodeWebP }

func encodeWebP(w io.Writer, img image.Image, p Plan) error {
	return webp.Encode(w, img, webp.Options{Quality: p.Quality, Lossless: p.Lossless, Method: 4})
}
