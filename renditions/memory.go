package renditions

// EstimateDecodeBytes estimates the peak memory, in bytes, that Generate needs to produce plan
// from a source described by info, for a memory-weighted semaphore around Generate. It errs on
// the high side where the header does not say enough: a JPEG is assumed progressive (its decoder
// then keeps every DCT coefficient, about 6 bytes a source pixel at 4:2:0, whatever the decode
// scale; a baseline JPEG needs far less) and to weigh about 1.5 bytes a pixel, held twice (read
// buffer and decoder copy); a PNG to decode to 8-bit RGBA (16-bit PNGs need twice the pixel
// memory); a WebP to be lossless or to have alpha. Measured on the corpus: the 17.9 MP
// progressive Elephants JPEG to width-400 allocates about 160 MB in all and is estimated at
// about 160 MB.
func EstimateDecodeBytes(info Info, plan Plan) int64 {
	const overhead = 1 << 20
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
		// compressed bytes twice + coefficients + decoded planes (up to 4:4:4)
		decode = 3*px + 6*px + 3*dw*dh
	case PNG:
		decode = 4*px + 64<<10
	case GIF:
		decode = px + 4*px // paletted frame + canvas when the frame is smaller than the screen
	case WebP:
		decode = px + 4*px // chunk bytes + NRGBA
	default:
		decode = 8 * px
	}
	// Resize: the horizontal pass keeps out-width × decoded-crop-height NRGBA, then the output;
	// orientation, flattening and the encoder each hold up to one more output-sized copy.
	ch := int64(crop.Dy())
	if info.Format == JPEG {
		ch = (ch*dh + int64(rh) - 1) / int64(rh)
	}
	out := 4 * int64(max(plan.Width, 1)) * int64(max(plan.Height, 1))
	resize := 4*int64(max(ow, 1))*ch + out
	return decode + resize + 3*out + overhead
}
