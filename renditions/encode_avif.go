package renditions

import (
	"image"
	"io"

	"github.com/gen2brain/avif"
)

// AVIF output comes from libavif/aom compiled to WebAssembly and run by wazero
// (github.com/gen2brain/avif). The first AVIF encode of a process compiles the module (about 1.5 s
// here); later ones take tens of milliseconds for thumbnail sizes.
func init() { encoders[AVIF] = encodeAVIF }

func encodeAVIF(w io.Writer, img image.Image, p Plan) error {
	return avif.Encode(w, img, avif.Options{Quality: p.Quality, QualityAlpha: p.Quality, Speed: 8, Lossless: p.Lossless})
}
