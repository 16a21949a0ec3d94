package renditions

import (
	"context"
	"image"
	"image/gif"
	"image/png"
	"io"
	"sync"

	"github.com/disintegration/imaging"
	"github.com/gen2brain/jpegn"
)

// encodeFunc writes img in one output format with the plan's quality and lossless setting. img
// is already upright, sized and, where the format or spec needs it, flattened. An encoder that
// can run long (AVIF, WebP) stops when ctx is done and returns ctx.Err().
type encodeFunc func(ctx context.Context, w io.Writer, img image.Image, p Plan) error

// encoders is the seam between Veil and its encoder libraries: an output format is supported
// exactly when it has an entry here. Spec.Plan returns ErrFormatNotSupported for any other.
// WebP and AVIF add their entries from encode_webp.go and encode_avif.go.
var encoders = map[Format]encodeFunc{
	JPEG: encodeJPEG,
	PNG:  encodePNG,
	GIF:  encodeGIF,
}

// encodeJPEG writes a progressive JPEG with optimised Huffman tables. YCbCr and Gray images go
// to the encoder as they are (a YCbCr keeps its chroma subsampling, no RGB round trip); RGBA and
// NRGBA have fast paths; anything else is converted to NRGBA first.
func encodeJPEG(_ context.Context, w io.Writer, img image.Image, p Plan) error {
	switch img.(type) {
	case *image.YCbCr, *image.Gray, *image.RGBA, *image.NRGBA:
	default:
		img = imaging.Clone(img)
	}
	return jpegn.Encode(w, img, &jpegn.EncodeOptions{
		Quality:        p.Quality,
		Progressive:    true,
		OptimizeCoding: true,
	})
}

var pngBuffers pngBufferPool

type pngBufferPool struct{ p sync.Pool }

func (b *pngBufferPool) Get() *png.EncoderBuffer {
	if v, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return v
	}
	return nil
}

func (b *pngBufferPool) Put(v *png.EncoderBuffer) { b.p.Put(v) }

// encodePNG writes a PNG, keeping alpha; paletted and gray images stay paletted and gray.
func encodePNG(_ context.Context, w io.Writer, img image.Image, _ Plan) error {
	enc := png.Encoder{CompressionLevel: png.DefaultCompression, BufferPool: &pngBuffers}
	return enc.Encode(w, img)
}

// encodeGIF writes a single-frame GIF: a paletted image as it is, anything else quantised to
// the Plan 9 palette with Floyd–Steinberg dithering (the standard library's defaults).
func encodeGIF(_ context.Context, w io.Writer, img image.Image, _ Plan) error {
	return gif.Encode(w, img, &gif.Options{NumColors: 256})
}
