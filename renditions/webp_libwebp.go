//go:build cgo

package renditions

/*
#include <stddef.h>
#include <stdint.h>

// The part of libwebp's decode.h (decoder ABI 0x0209, libwebp 1.4) that Veil calls. libwebp
// itself is compiled by github.com/chai2010/webp, whose package is linked in for it; its header
// is not reachable from here, so the structures are declared again, field for field, and
// webpLibrary refuses to run against any other decoder version.
typedef struct { uint8_t* rgba; int stride; size_t size; } veilWebPRGBA;
typedef struct {
	uint8_t *y, *u, *v, *a;
	int y_stride, u_stride, v_stride, a_stride;
	size_t y_size, u_size, v_size, a_size;
} veilWebPYUVA;
typedef struct {
	int colorspace;
	int width, height;
	int is_external_memory;
	union { veilWebPRGBA RGBA; veilWebPYUVA YUVA; } u;
	uint32_t pad[4];
	uint8_t* private_memory;
} veilWebPBuffer;
typedef struct {
	int width, height, has_alpha, has_animation, format;
	uint32_t pad[5];
} veilWebPFeatures;
typedef struct {
	int bypass_filtering, no_fancy_upsampling;
	int use_cropping, crop_left, crop_top, crop_width, crop_height;
	int use_scaling, scaled_width, scaled_height;
	int use_threads, dithering_strength, flip, alpha_dithering_strength;
	uint32_t pad[5];
} veilWebPOptions;
typedef struct {
	veilWebPFeatures input;
	veilWebPBuffer output;
	veilWebPOptions options;
} veilWebPConfig;

extern int WebPGetDecoderVersion(void);
extern int WebPInitDecoderConfigInternal(veilWebPConfig*, int);
extern int WebPGetFeaturesInternal(const uint8_t*, size_t, veilWebPFeatures*, int);
extern int WebPDecode(const uint8_t*, size_t, veilWebPConfig*);

enum { veilWebPABI = 0x0209, veilModeRGBA = 1 };

// veil_webp_features reads the bitstream's size, alpha, animation and kind (1 lossy, 2 lossless).
static int veil_webp_features(const uint8_t* data, size_t size, veilWebPFeatures* f) {
	return WebPGetFeaturesInternal(data, size, f, veilWebPABI);
}

// veil_webp_decode decodes an opaque lossy WebP scaled to w×h as RGBA (alpha 255) into out
// (stride 4w), with the in-loop filter and fancy upsampling on: what dwebp shows. (Planes
// would take less memory, but libwebp rescales the chroma of 4:2:0 output row pairs at a time,
// and its colours drift from the picture's the more it shrinks: chroma SSIM 0.96 at 1/14.)
static int veil_webp_decode(const uint8_t* data, size_t size, int w, int h, uint8_t* out) {
	veilWebPConfig c;
	if (!WebPInitDecoderConfigInternal(&c, veilWebPABI)) {
		return -1;
	}
	if (w != c.input.width || h != c.input.height) {
		c.options.use_scaling = 1;
		c.options.scaled_width = w;
		c.options.scaled_height = h;
	}
	c.output.colorspace = veilModeRGBA;
	c.output.is_external_memory = 1;
	c.output.u.RGBA.rgba = out;
	c.output.u.RGBA.stride = 4 * w;
	c.output.u.RGBA.size = (size_t)4 * w * h;
	return WebPDecode(data, size, &c);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"

	_ "github.com/chai2010/webp" // compiles and links libwebp 1.4.0, whose decoder is called here
)

// webpLibraryVersion is the libwebp this file's declarations were written for.
const webpLibraryVersion = 0x010400

// webpLibrary reports whether WebP sources are decoded by libwebp (this build has cgo, and the
// linked libwebp is the version the declarations above match).
var webpLibrary = C.WebPGetDecoderVersion() == webpLibraryVersion

// VP8StatusCode values libwebp returns.
var webpStatus = map[C.int]string{
	1: "out of memory", 2: "invalid parameter", 3: "bitstream error",
	4: "unsupported feature", 5: "suspended", 6: "user abort", 7: "not enough data (truncated)",
}

// errNotLossyOpaque: the WebP is lossless, has alpha or is animated; decode reads it with
// golang.org/x/image/webp instead.
var errNotLossyOpaque = errors.New("webp: not an opaque lossy WebP")

// decodeWebPScaled decodes an opaque lossy WebP file with libwebp, scaled to w×h by its
// rescaler: an area average of the stored pixels each output pixel covers, done a macroblock
// row at a time as the bitstream is decoded, so the full-size image is never held. libwebp
// converts to RGB itself (limited-range BT.601, as dwebp). rawW×rawH is the size Inspect read
// from the header: a bitstream that says otherwise is refused.
//
// Only opaque lossy files are given to libwebp (errNotLossyOpaque otherwise). Its lossless
// decoder (also used for a lossy file's alpha plane) accepts 65,535 Huffman groups, some
// hundreds of MB of tables from a file of a few hundred KB; golang.org/x/image/webp refuses
// more than 2,600. A lossy decode's memory follows from the width alone (see EstimateDecodeBytes).
func decodeWebPScaled(data []byte, rawW, rawH, w, h int) (*image.RGBA, error) {
	if len(data) == 0 || w < 1 || h < 1 || w > rawW || h > rawH {
		return nil, errors.New("webp: nothing to decode")
	}
	var f C.veilWebPFeatures
	if st := C.veil_webp_features((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), &f); st != 0 {
		return nil, fmt.Errorf("webp: %s", webpStatusText(st))
	}
	if f.format != 1 || f.has_alpha != 0 || f.has_animation != 0 {
		return nil, errNotLossyOpaque
	}
	if int(f.width) != rawW || int(f.height) != rawH {
		return nil, fmt.Errorf("webp: bitstream is %dx%d, its header says %dx%d", f.width, f.height, rawW, rawH)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	// Both pointers are arguments, used only during the call (cgo's pointer rules).
	st := C.veil_webp_decode((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.int(w), C.int(h), (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])))
	if st != 0 {
		return nil, fmt.Errorf("webp: %s", webpStatusText(st))
	}
	return img, nil
}

func webpStatusText(st C.int) string {
	if s, ok := webpStatus[st]; ok {
		return s
	}
	return fmt.Sprintf("status %d", int(st))
}
