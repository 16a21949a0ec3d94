package renditions

// EstimateDecodeBytes estimates the peak memory, in bytes, that Generate needs to produce plan
// from a source described by info, for a memory-weighted semaphore around Generate: the Go heap
// of the decode, resize and encode stages (summed: the garbage of one stage is still in the heap
// during the next until the collector runs) plus, for AVIF and WebP outputs, the WebAssembly
// memory of the encoder, which is capped at its share of this estimate (ErrEncoderMemory past
// it) and unmapped when the encode ends.
//
// The decode stage is sized from the decoded pixel format that info describes (fill info with
// Inspect: BitDepth, Channels, Planes, Paletted, Interlaced, Lossless, FileSize). Where a field
// is zero the dearest case is assumed: a JPEG progressive with four full planes (its decoder
// then keeps 4 bytes of DCT coefficient per plane pixel whatever the decode scale), a PNG 16-bit
// with alpha and interlaced (8 bytes a pixel, twice), a WebP lossless. Per source pixel, as
// decoded by the standard library, golang.org/x/image/webp and jpegn:
//
//	PNG  gray ≤8-bit or paletted 1, 16-bit gray 2, 8-bit colour 4, 16-bit colour 8 (×2 interlaced);
//	     nothing when shrinking an 8-bit RGB or RGBA one (streamed, see resamplePNGStream)
//	JPEG 2× the file (read buffer + decoder copy) + 1 byte a plane pixel at the decode scale
//	     (at 1/8 and 1/4 a grey or YCbCr baseline JPEG is decoded as it is read: no file),
//	     + when progressive the file again (pruned copy) and 4 bytes a plane pixel of
//	     coefficients; at the 1/8 and 1/4 scales of a grey or YCbCr JPEG, which decodeReduced
//	     decodes with no decoder copy, 28/64 of a byte instead, + 4 a pixel for CMYK
//	GIF  1 (paletted frame) + 4 (canvas when the frame is smaller than the screen)
//	WebP the file + 1.5 (lossy), 2.5 + 8 (lossy with a VP8L-coded alpha plane) or 4 + 4
//	     (lossless: ARGB words + NRGBA); an opaque lossy one, when libwebp decodes it (a cgo
//	     build), 4 bytes a pixel at the shrunk size plus buffers that follow the width
//
// The figures, and the AVIF and WebP encoder memory (avifEncoderBytes, webpEncoderBytes), are
// checked by TestEstimateCoversPeakHeap and Test16BitPNGEstimate, which measure the peak.
func EstimateDecodeBytes(info Info, plan Plan) int64 {
	const overhead = 2 << 20 // pools, readers, encoder buffers
	rw, rh := info.rawSize()
	if rw < 1 || rh < 1 {
		return overhead
	}
	px := int64(rw) * int64(rh)
	crop := rawCrop(info, plan)
	ow, oh := rawOutSize(info, plan)
	dw, dh := int64(rw), int64(rh) // decoded size
	var decode int64
	switch info.Format {
	case JPEG:
		d := int64(jpegScale(crop, ow, oh))
		dw, dh = (dw+d-1)/d, (dh+d-1)/d
		file := info.FileSize
		if file <= 0 {
			file = 3 * px / 2 // a generous typical size; the decoder reads at most 12 bytes a pixel
		}
		planes := info.Planes
		if planes <= 0 {
			planes = 4
		}
		// MCU padding: components are decoded in whole 8×8 (or 16×16) blocks.
		padded := (dw + 16) * (dh + 16)
		decode = 2*file + int64(planes*float64(padded))
		if _, ok := scaleCoefficients[int(d)]; ok && !info.Interlaced && info.Planes > 0 && (info.Channels == 1 || info.Channels == 3) {
			// decodeBaselineStream: the header Inspect read and a 64 KiB read buffer, no file.
			decode = min(file, InspectReadLimit) + 64<<10 + int64(planes*float64(padded))
		}
		if info.Interlaced || info.Planes <= 0 {
			full := float64((int64(rw) + 16) * (int64(rh) + 16))
			if _, ok := scaleCoefficients[int(d)]; ok && (info.Channels == 1 || info.Channels == 3) {
				// decodeReduced: no decoder copy of the (pruned) file, up to 5 int32s and a
				// 64-bit mask a block (28 bytes for 64 pixels).
				decode += int64(28 * planes * full / 64)
			} else {
				decode += file + int64(4*planes*full)
			}
		}
		if info.Channels == 4 || info.Channels == 0 {
			decode += 4 * dw * dh // CMYK/YCCK come out as image.CMYK
		}
	case PNG:
		bpp := int64(8)
		switch {
		case info.Channels == 0 || info.BitDepth == 0:
		case info.BitDepth == 16 && info.Channels == 1:
			bpp = 2
		case info.BitDepth == 16:
			bpp = 8
		case info.Channels == 1 || info.Paletted:
			bpp = 1
		default:
			bpp = 4
		}
		decode = bpp * px
		if info.Interlaced || info.Channels == 0 {
			decode *= 2 // the full image plus every pass's own image
		}
		if streamsPNG(info, plan) {
			decode = 0 // resamplePNGStream: rows only, the horizontal pass is counted below
		}
		decode += 2*int64(rw)*8 + 96<<10 // two filter rows, inflate window, read buffer
	case GIF:
		decode = px + 4*px // paletted frame + canvas when the frame is smaller than the screen
	case WebP:
		file := info.FileSize
		if file <= 0 {
			file = px
		}
		switch {
		case webpLibrary && info.Channels == 3 && !info.Lossless:
			// libwebp, shrunk while decoding (webpShrink): the file, the decoded image, and
			// libwebp's own buffers, which follow the width (frame_dec.c AllocateMemory: per
			// 16-pixel macroblock 784 bytes of coefficients, 36 cached rows of 32 bytes and
			// some 40 more; io_dec.c: three rescalers of 2 int32 per output pixel and a row).
			k := int64(webpShrink(info, plan))
			dw, dh = (dw+k-1)/k, (dh+k-1)/k
			decode = file + 4*dw*dh + 160*int64(rw) + 64*dw + 256<<10
		case info.Lossless || info.Channels == 0:
			decode = file + 8*px // ARGB words + NRGBA
		case info.Channels == 4:
			decode = file + 5*px/2 + 8*px // the ALPH plane is itself VP8L-coded
		default:
			decode = file + 3*px/2
		}
	default:
		decode = 16 * px
	}
	// Resize: the horizontal pass keeps out-width × decoded-crop-height NRGBA (or one byte a
	// plane for a YCbCr decode, whose planes are each kept at the output size before becoming
	// RGB: 3 more bytes an output pixel), then the output.
	// Orientation and flattening, when they happen, and the encoder each hold up to one more
	// output-sized copy.
	ch := int64(crop.Dy())
	if dh != int64(rh) {
		ch = (ch*dh + int64(rh) - 1) / int64(rh)
	}
	out := 4 * int64(max(plan.Width, 1)) * int64(max(plan.Height, 1))
	var resize int64
	if plan.Resizes() || dw < int64(rw) {
		resize = 4*int64(max(ow, 1))*ch + out + 3*out/4
	}
	copies := int64(1)
	if info.Orientation > 1 || info.Orientation == 0 {
		copies++
	}
	if plan.Background != nil || !plan.Format.hasAlpha() {
		copies++
	}
	return decode + resize + copies*out + encoderBytes(info, plan) + overhead
}

// encoderBytes is the memory an encoder needs beyond the output-sized copies counted in
// EstimateDecodeBytes: the WebAssembly memory of the AVIF and WebP encoders.
func encoderBytes(info Info, plan Plan) int64 {
	switch plan.Format {
	case AVIF:
		return avifEncoderBytes(plan.Width, plan.Height, plan.Lossless)
	case WebP:
		// Only a JPEG or a lossy WebP without alpha, or a flattened output, is surely opaque.
		opaque := plan.Background != nil || info.Format == JPEG || (info.Format == WebP && info.Channels == 3)
		return webpEncoderBytes(plan.Width, plan.Height, plan.Lossless, !opaque)
	}
	return 0
}

// avifEncoderBytes is the WebAssembly memory an AVIF encode of a w×h image may use, and its
// cap. Measured by TestEncoderMemoryFigures (aom speed 8, quality 61 and 100 alike): about
// 4 MB plus 34 bytes a pixel lossy, 59 lossless (4:4:4); allowed with about 30% to spare.
func avifEncoderBytes(w, h int, lossless bool) int64 {
	px := int64(w) * int64(h)
	if lossless {
		return 6<<20 + 78*px
	}
	return 6<<20 + 44*px
}

// webpEncoderBytes is the WebAssembly memory a WebP encode of a w×h image may use, and its
// cap. Measured by TestEncoderMemoryFigures (method 4): lossy opaque about 10–24 bytes a pixel (quality 61–100, photos at
// the top), lossy with alpha about 37 (the alpha plane is compressed losslessly), lossless
// about 20 MB plus 29–34 bytes a pixel (its hash chains); allowed with about 25% to spare.
func webpEncoderBytes(w, h int, lossless, alpha bool) int64 {
	px := int64(w) * int64(h)
	switch {
	case lossless:
		return 24<<20 + 44*px
	case alpha:
		return 2<<20 + 46*px
	}
	return 2<<20 + 30*px
}
