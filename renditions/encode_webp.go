package renditions

import (
	"context"
	_ "embed"
	"image"
	"io"
)

// WebP output comes from libwebp 1.6.0 compiled to WebAssembly (the module
// github.com/gen2brain/webp v0.6.4 ships), run by wasm.go: stoppable by ctx, its memory capped
// at webpEncoderBytes and unmapped when the encode ends. Lossy with a quality, or lossless;
// method 4.
func init() { encoders[WebP] = encodeWebP }

//go:embed wasm/webp.wasm.gz
var webpWasmGz []byte

var webpCodec = &wasmCodec{name: "WebP", gz: webpWasmGz}

func encodeWebP(ctx context.Context, w io.Writer, img image.Image, p Plan) error {
	b := img.Bounds()
	o, ok := img.(interface{ Opaque() bool })
	alpha := !ok || !o.Opaque()
	return encodeWebPLimited(ctx, w, img, p, webpEncoderBytes(b.Dx(), b.Dy(), p.Lossless, alpha))
}

func encodeWebPLimited(ctx context.Context, w io.Writer, img image.Image, p Plan, limit int64) error {
	b := img.Bounds()
	return webpCodec.run(ctx, limit, func(c *wasmCall) error {
		wd, ht := b.Dx(), b.Dy()
		// WebPPictureImportRGBA reads non-premultiplied RGBA.
		in, err := c.putImage(img, false)
		if err != nil {
			return err
		}
		sizePtr, _, err := c.alloc(8)
		if err != nil {
			return err
		}
		lossless := uint64(0)
		if p.Lossless {
			lossless = 1
		}
		const colorspaceRGBA, method = 0, 4
		c.encoding()
		ptr, err := c.call("encode", uint64(in), uint64(wd), uint64(ht), uint64(sizePtr), colorspaceRGBA, uint64(p.Quality), method, lossless, 0)
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
