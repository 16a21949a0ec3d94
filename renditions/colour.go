package renditions

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"io"
)

// Colour management. Every rendition is written as sRGB: a source whose pixels are in another
// colour space (an embedded ICC profile — JPEG APP2, PNG iCCP, WebP ICCP — or PNG gAMA/cHRM)
// is converted from it. A source without any of these, or tagged with an sRGB profile, is sRGB
// already and its pixels are not touched: the cost there is finding out (a walk over the JPEG
// markers, a look at the PNG/WebP chunk headers as they stream past the decoder).
//
// RGB and grey sources are converted after the crop and resize, on the (usually much smaller)
// output, as libvips's thumbnail does; CMYK sources right after decoding, since resampling
// needs RGB. The conversion itself is a table sampled once per profile (see iccTransform) and
// cached, so a rendition pays a table lookup per pixel.
//
// An embedded profile that does not parse, does not match the pixels (an RGB profile on a grey
// JPEG, say) or describes a space other than RGB, grey or CMYK is ignored, as libvips ignores
// it: the pixels are taken as sRGB, which is what every viewer that ignores profiles shows.

// maxEmbeddedProfile caps the bytes of an embedded ICC profile that are looked at; a larger
// profile is ignored. Real profiles are a few hundred bytes (matrix/TRC) to about 2 MB (large
// CMYK LUT profiles).
const maxEmbeddedProfile = 8 << 20

// sourceColour learns, while a source is read and decoded, which colour space its pixels are
// in, and converts them to sRGB.
type sourceColour struct {
	format Format
	chunks *chunkWatcher // PNG and WebP: chunks seen so far
	conv   *iccTransform // set by enter; nil = sRGB
}

// newSourceColour starts watching a source in format f whose first bytes, already read by
// Inspect, are head (not retained past the call).
func newSourceColour(f Format, head []byte) *sourceColour {
	c := &sourceColour{format: f}
	switch f {
	case PNG:
		c.chunks = &chunkWatcher{png: true, skip: 8}
	case WebP:
		c.chunks = &chunkWatcher{skip: 12}
	default:
		return c
	}
	c.chunks.feed(head)
	return c
}

// watch returns r wrapped so that the chunks the decoder reads are seen too. r is returned as it
// is for formats whose metadata is read otherwise (JPEG is held whole in memory).
func (c *sourceColour) watch(r io.Reader) io.Reader {
	if c.chunks == nil {
		return r
	}
	return &watchingReader{r: r, w: c.chunks}
}

// enter is called with the decoded image (data holds the whole JPEG for a JPEG source). It
// puts a lossy WebP's limited-range YCbCr into full range (see webpFullRange), finds the
// source's colour space and converts a CMYK image to sRGB at once; RGB and grey images are
// converted by leave.
func (c *sourceColour) enter(img image.Image, data []byte) image.Image {
	if c.format == WebP {
		img = webpFullRange(img)
	}
	var profile []byte
	switch c.format {
	case JPEG:
		profile = jpegICC(data)
	case PNG, WebP:
		profile = c.chunks.profile()
	}
	channels := 3
	switch img.(type) {
	case *image.CMYK:
		channels = 4
	case *image.Gray, *image.Gray16:
		channels = 1
	}
	switch {
	case profile != nil:
		c.conv = cachedICCTransform(profile, channels)
	case c.format == PNG:
		c.conv = pngGammaTransform(c.chunks, channels)
	}
	if cm, ok := img.(*image.CMYK); ok && c.conv != nil {
		return c.conv.applyCMYK(cm)
	}
	return img
}

// leave converts the cropped and resized image to sRGB when the source was in another space.
// It may change img in place: the pipeline owns every image it holds.
func (c *sourceColour) leave(img image.Image) image.Image {
	if c == nil || c.conv == nil || c.conv.channels == 4 {
		return img
	}
	return c.conv.apply(img)
}

// jpegICC returns the ICC profile carried by a JPEG's APP2 "ICC_PROFILE" segments (in sequence
// order, joined), or nil when there is none or the chunks are inconsistent. It reads markers up
// to the first scan.
func jpegICC(data []byte) []byte {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil
	}
	var chunks [][]byte
	total, count := 0, 0
	pos := 2
	for pos+4 <= len(data) {
		if data[pos] != 0xFF {
			pos++ // stray bytes between segments, as readJPEGHeader skips them
			continue
		}
		m := data[pos+1]
		if m == 0xFF {
			pos++
			continue
		}
		if m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			pos += 2
			continue
		}
		if m == 0xDA || m == 0xD9 {
			break
		}
		n := int(binary.BigEndian.Uint16(data[pos+2:]))
		if n < 2 || pos+2+n > len(data) {
			break
		}
		seg := data[pos+4 : pos+2+n]
		pos += 2 + n
		const sig = "ICC_PROFILE\x00"
		if m != 0xE2 || len(seg) < len(sig)+2 || string(seg[:len(sig)]) != sig {
			continue
		}
		seq, cnt := int(seg[len(sig)]), int(seg[len(sig)+1])
		if cnt == 0 || seq == 0 || seq > cnt || (count != 0 && cnt != count) {
			return nil
		}
		if chunks == nil {
			count = cnt
			chunks = make([][]byte, cnt)
		}
		if chunks[seq-1] != nil {
			return nil
		}
		chunks[seq-1] = seg[len(sig)+2:]
		if total += len(seg) - len(sig) - 2; total > maxEmbeddedProfile {
			return nil
		}
	}
	if chunks == nil {
		return nil
	}
	out := make([]byte, 0, total)
	for _, ch := range chunks {
		if ch == nil {
			return nil // a missing chunk
		}
		out = append(out, ch...)
	}
	return out
}

// chunkWatcher follows the chunk structure of a PNG or WebP stream as it is read, keeping the
// chunks that describe colour: PNG iCCP, gAMA, cHRM and sRGB, WebP ICCP. It stops at the first
// image data chunk, before which these must appear. It never fails: a stream it cannot follow
// simply yields no colour information (the decoder reports the broken file).
type chunkWatcher struct {
	png  bool
	skip int // bytes still to pass before the next chunk header (signature, data, CRC, padding)

	hdr  [8]byte
	nhdr int

	keep []byte // data of the chunk being kept
	want int    // its remaining bytes
	kind string
	done bool

	iccp       []byte // PNG: name, 0, method, zlib data; WebP: the profile
	gama       uint32
	chrm       []byte
	srgb, seen bool // srgb: an sRGB chunk; seen: gAMA or cHRM present
}

type watchingReader struct {
	r io.Reader
	w *chunkWatcher
}

func (w *watchingReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.w.feed(p[:n])
	return n, err
}

func (c *chunkWatcher) feed(p []byte) {
	for len(p) > 0 && !c.done {
		switch {
		case c.want > 0:
			n := min(c.want, len(p))
			c.keep = append(c.keep, p[:n]...)
			c.want -= n
			p = p[n:]
			if c.want == 0 {
				c.finish()
			}
		case c.skip > 0:
			n := min(c.skip, len(p))
			c.skip -= n
			p = p[n:]
		default:
			n := copy(c.hdr[c.nhdr:], p)
			c.nhdr += n
			p = p[n:]
			if c.nhdr == len(c.hdr) {
				c.nhdr = 0
				c.header()
			}
		}
	}
}

// header handles a complete chunk header.
func (c *chunkWatcher) header() {
	var size int
	if c.png {
		size, c.kind = int(binary.BigEndian.Uint32(c.hdr[:4])), string(c.hdr[4:])
	} else {
		c.kind, size = string(c.hdr[:4]), int(binary.LittleEndian.Uint32(c.hdr[4:]))
	}
	tail := 4 // PNG CRC
	if !c.png {
		tail = size & 1 // RIFF padding
	}
	if size < 0 || size > 1<<31-1 {
		c.done = true
		return
	}
	switch c.kind {
	case "IDAT", "IEND", "VP8 ", "VP8L", "ANIM", "ALPH":
		c.done = true
		return
	case "iCCP", "ICCP", "gAMA", "cHRM", "sRGB":
		if size <= maxEmbeddedProfile && (c.png || c.kind == "ICCP") {
			c.keep, c.want = make([]byte, 0, min(size, 64<<10)), size
			c.skip = tail
			if size == 0 {
				c.finish()
			}
			return
		}
	}
	c.skip = size + tail
}

// finish stores a kept chunk.
func (c *chunkWatcher) finish() {
	b := c.keep
	c.keep = nil
	switch c.kind {
	case "iCCP", "ICCP":
		if c.iccp == nil {
			c.iccp = b
		}
	case "gAMA":
		if len(b) == 4 {
			c.gama, c.seen = binary.BigEndian.Uint32(b), true
		}
	case "cHRM":
		if len(b) == 32 {
			c.chrm, c.seen = b, true
		}
	case "sRGB":
		c.srgb = true
	}
}

// profile returns the embedded ICC profile, decompressed for PNG, or nil. A PNG sRGB chunk
// wins over iCCP (the PNG specification says they must not both appear; the sRGB chunk is
// the cheaper and more likely truth).
func (c *chunkWatcher) profile() []byte {
	if c.iccp == nil || c.srgb {
		return nil
	}
	if !c.png {
		return c.iccp
	}
	// Profile name (1–79 bytes), NUL, compression method 0, zlib stream.
	i := bytes.IndexByte(c.iccp, 0)
	if i < 1 || i > 79 || i+2 > len(c.iccp) || c.iccp[i+1] != 0 {
		return nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(c.iccp[i+2:]))
	if err != nil {
		return nil
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxEmbeddedProfile+1))
	if err != nil || len(out) > maxEmbeddedProfile {
		return nil
	}
	return out
}

// toNRGBA returns img as an *image.NRGBA the caller may change: img itself when it already is
// one, else a converted copy.
func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok {
		return n
	}
	b := img.Bounds()
	n := image.NewNRGBA(b)
	if rgba, ok := img.(*image.RGBA); ok {
		// Un-premultiply exactly as color.NRGBAModel does, without the interface calls.
		for y := b.Min.Y; y < b.Max.Y; y++ {
			src := rgba.Pix[rgba.PixOffset(b.Min.X, y):]
			dst := n.Pix[n.PixOffset(b.Min.X, y):]
			for i := 0; i < 4*b.Dx(); i += 4 {
				r, g, bl, a := src[i], src[i+1], src[i+2], src[i+3]
				if a != 0 && a != 255 {
					r = uint8(uint32(r) * 0xff / uint32(a))
					g = uint8(uint32(g) * 0xff / uint32(a))
					bl = uint8(uint32(bl) * 0xff / uint32(a))
				}
				dst[i], dst[i+1], dst[i+2], dst[i+3] = r, g, bl, a
			}
		}
		return n
	}
	draw.Draw(n, b, img, b.Min, draw.Src)
	return n
}

// paletteToSRGB converts the colours of a palette.
func paletteToSRGB(p color.Palette, t *iccTransform) color.Palette {
	out := make(color.Palette, len(p))
	for i, c := range p {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		n.R, n.G, n.B = t.rgb(n.R, n.G, n.B)
		out[i] = n
	}
	return out
}
