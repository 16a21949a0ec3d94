package renditions

import "image"

// Lossy WebP (VP8) stores BT.601 YCbCr in the limited ("studio") range: luma 16–235, chroma
// 16–240 around 128. golang.org/x/image/webp returns those planes as an *image.YCbCr, and Go
// converts an *image.YCbCr to RGB with the full-range JFIF formula (golang/go#40173), so black
// came out as 16 and white as 235. JFIF and BT.601 share their coefficients, so rescaling the
// planes to full range once, in place, makes Go's conversion the limited-range one libwebp
// applies: R = 1.164(Y−16) + 1.596(Cr−128) and so on. The image keeps its type and size (no
// RGB copy; the memory estimate is unchanged); samples outside the nominal range, which a lossy
// encoder's ringing can leave, are clipped to it first.

var (
	vp8Luma, vp8Chroma [256]uint8
)

func init() {
	for v := range 256 {
		y := min(max(v, 16), 235)
		vp8Luma[v] = uint8(((y-16)*255*2 + 219) / (219 * 2)) // round((y−16)·255/219)
		c := min(max(v, 16), 240) - 128
		// round(c·255/224) + 128, rounding halves away from zero
		s := c * 255 * 2
		if s >= 0 {
			s = (s + 224) / 448
		} else {
			s = -((-s + 224) / 448)
		}
		vp8Chroma[v] = uint8(min(max(s+128, 0), 255))
	}
}

// webpFullRange rescales the planes of a decoded lossy WebP to full range in place; other
// images (lossless WebP decodes to NRGBA) are returned as they are.
func webpFullRange(img image.Image) image.Image {
	var y *image.YCbCr
	switch m := img.(type) {
	case *image.YCbCr:
		y = m
	case *image.NYCbCrA:
		y = &m.YCbCr
	default:
		return img
	}
	for i, v := range y.Y {
		y.Y[i] = vp8Luma[v]
	}
	for i, v := range y.Cb {
		y.Cb[i] = vp8Chroma[v]
	}
	for i, v := range y.Cr {
		y.Cr[i] = vp8Chroma[v]
	}
	return img
}
