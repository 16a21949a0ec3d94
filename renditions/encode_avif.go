package renditions

import (
	"context"
	_ "embed"
	"image"
	"io"
)

// AVIF output comes from libavif 1.4.2 + aom 3.14.1 compiled to WebAssembly (the module
// github.com/gen2brain/avif v0.5.3 ships), run by wasm.go: stoppable by ctx, its memory capped
// at avifEncoderBytes and unmapped when the encode ends. The speed is Plan's AVIFSpeed (0–10,
// from Options.AVIFSpeed; default 8).
func init() { encoders[AVIF] = encodeAVIF }

//go:embed wasm/avif.wasm.gz
var avifWasmGz []byte

var avifCodec = &wasmCodec{name: "AVIF", gz: avifWasmGz}

// libavif pixel formats.
const (
	avifYUV444 = 1
	avifYUV420 = 3
)

func encodeAVIF(ctx context.Context, w io.Writer, img image.Image, p Plan) error {
	b := img.Bounds()
	return encodeAVIFLimited(ctx, w, img, p, avifEncoderBytes(b.Dx(), b.Dy(), p.Lossless))
}

func encodeAVIFLimited(ctx context.Context, w io.Writer, img image.Image, p Plan, limit int64) error {
	return avifCodec.run(ctx, limit, func(c *wasmCall) error {
		b := img.Bounds()
		wd, ht := b.Dx(), b.Dy()
		// The encoder reads premultiplied RGBA (alphaPremultiplied = 1 in avif.c).
		in, err := c.putImage(img, true)
		if err != nil {
			return err
		}
		sizePtr, _, err := c.alloc(8)
		if err != nil {
			return err
		}
		chroma, lossless, q := uint64(avifYUV420), uint64(0), uint64(p.Quality)
		if p.Lossless {
			chroma, lossless, q = avifYUV444, 1, 100
		}
		c.encoding()
		ptr, err := c.call("encode", uint64(in), uint64(wd), uint64(ht), uint64(sizePtr), q, q, uint64(p.AVIFSpeed), chroma, lossless)
		if err != nil {
			return err
		}
		out, err := c.encoded(ptr, sizePtr)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	})
}
