package renditions

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// InspectReadLimit is the most bytes Inspect reads from a stream (1 MiB). JPEG APP segments
// (EXIF with a thumbnail, ICC profiles, XMP) can push the frame header far into a file; a
// header not found within this many bytes is reported as ErrCorrupt.
const InspectReadLimit = 1 << 20

// Info describes a source image, as read from its header.
type Info struct {
	// Format is JPEG, PNG, GIF or WebP.
	Format Format
	// Width and Height are the size of the upright image: for JPEG orientations 5–8 they are
	// the stored height and width.
	Width, Height int
	// Orientation is the EXIF orientation 1–8 (1 when absent, invalid, or not a JPEG).
	Orientation int

	// The fields below describe the stored pixels, as far as the header tells, for
	// EstimateDecodeBytes; their zero values mean "unknown", and the estimate then assumes the
	// dearest case (16-bit samples, four channels, progressive or interlaced, lossless WebP).

	// BitDepth is the bits per sample: 8 for JPEG, GIF and WebP; 1, 2, 4, 8 or 16 for PNG.
	BitDepth int
	// Channels is the samples per stored pixel: 1 gray or palette index, 2 gray and alpha, 3
	// colour, 4 colour and alpha, or CMYK/YCCK for a JPEG.
	Channels int
	// Planes is, for a JPEG, the total area of its components in full-size planes: 1 for gray,
	// 1.5 for YCbCr 4:2:0, 2 for 4:2:2, 3 for 4:4:4, 4 for CMYK. A progressive JPEG's decoder
	// keeps 4 bytes of DCT coefficient per plane pixel; a baseline one, 1 byte.
	Planes float64
	// Paletted is set for a paletted PNG and for GIF.
	Paletted bool
	// Interlaced is set for a progressive JPEG and an Adam7-interlaced PNG.
	Interlaced bool
	// Lossless is set for a lossless (VP8L) WebP; a lossy WebP with alpha has Channels 4.
	Lossless bool
	// FileSize is the size of the file in bytes when the reader given to Inspect reports it
	// (a *bytes.Reader or blob reader has a Size method); 0 when unknown. A JPEG is held whole,
	// twice, while it is decoded.
	FileSize int64
}

// rawSize is the size of the image as stored, before orientation.
func (i Info) rawSize() (int, int) {
	if i.Orientation >= 5 {
		return i.Height, i.Width
	}
	return i.Width, i.Height
}

// Inspect reads the header of an image and reports its format and upright size, without
// decoding pixels. It reads at most InspectReadLimit bytes from r (plus up to 4 KiB of
// read-ahead within that limit), only forwards, so r need not be seekable.
//
// It accepts exactly JPEG (8-bit, Huffman-coded), PNG, GIF and still WebP; anything else —
// including BMP, TIFF and AVIF, which other libraries could decode — returns
// ErrUnsupportedFormat. For JPEG it reads the EXIF Orientation tag from APP1 and reports the
// upright size. A header over lim.MaxSourceSide or lim.MaxSourcePixels returns a *LimitError
// (zero Limits fields mean their defaults); a header that cannot be parsed, or is not complete
// within InspectReadLimit bytes, returns ErrCorrupt. A read error from r is returned wrapped.
// EXIF orientation in PNG (eXIf) and WebP (EXIF chunk) is not applied.
func Inspect(r io.Reader, lim Limits) (Info, error) {
	h, err := inspect(&headReader{r: r, n: InspectReadLimit}, lim.withDefaults())
	return h.Info, err
}

// header is what inspect learns: the Info, how many bytes of the stream the header parse
// consumed (for JPEG: up to the end of the frame header), and whether a JPEG is progressive.
type header struct {
	Info
	consumed    int64
	progressive bool
}

// headReader reads at most n bytes from r, optionally recording them, and keeps the first
// read error that is not io.EOF apart from the decoders' view of it.
type headReader struct {
	r        io.Reader
	n        int64
	rec      *bytes.Buffer
	err      error
	exceeded bool
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.n <= 0 {
		h.exceeded = true
		return 0, io.EOF
	}
	if int64(len(p)) > h.n {
		p = p[:h.n]
	}
	n, err := h.r.Read(p)
	h.n -= int64(n)
	if h.rec != nil {
		h.rec.Write(p[:n])
	}
	if err != nil && err != io.EOF && h.err == nil {
		h.err = err
	}
	return n, err
}

// inspect is Inspect on a headReader.
func inspect(hr *headReader, lim Limits) (header, error) {
	br := bufio.NewReaderSize(hr, 4096)
	magic, _ := br.Peek(32)
	format, err := sniff(magic)
	if err != nil {
		if hr.err != nil {
			return header{}, fmt.Errorf("renditions: read source: %w", hr.err)
		}
		return header{}, err
	}
	info := Info{Format: format, Orientation: 1, BitDepth: 8}
	if s, ok := hr.r.(interface{ Size() int64 }); ok {
		info.FileSize = s.Size()
	}
	progressive := false
	var perr error
	switch format {
	case JPEG:
		var h jpegHeader
		h, perr = readJPEGHeader(br)
		info.Width, info.Height, info.Orientation = h.width, h.height, h.orientation
		info.Channels, info.Planes, info.Interlaced = h.components, h.planes, h.progressive
		progressive = h.progressive
	case PNG:
		var c image.Config
		c, perr = png.DecodeConfig(br)
		info.Width, info.Height = c.Width, c.Height
		if len(magic) >= 29 && string(magic[12:16]) == "IHDR" { // IHDR is always the first chunk
			info.BitDepth = int(magic[24])
			info.Channels = map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[magic[25]]
			info.Paletted = magic[25] == 3
			info.Interlaced = magic[28] == 1
		}
	case GIF:
		var c image.Config
		c, perr = gif.DecodeConfig(br)
		info.Width, info.Height = c.Width, c.Height
		info.Channels, info.Paletted = 1, true
	case WebP:
		if len(magic) >= 21 && string(magic[12:16]) == "VP8X" && magic[20]&0x02 != 0 {
			return header{}, ErrAnimatedWebP
		}
		switch {
		case len(magic) >= 16 && string(magic[12:16]) == "VP8 ":
			info.Channels = 3
		case len(magic) >= 16 && string(magic[12:16]) == "VP8L":
			info.Channels, info.Lossless = 4, true
		case len(magic) >= 21 && magic[20]&0x10 != 0: // VP8X with alpha: lossy+ALPH or VP8L
			info.Channels = 4
		}
		var c image.Config
		c, perr = webp.DecodeConfig(br)
		info.Width, info.Height = c.Width, c.Height
	}
	consumed := InspectReadLimit - hr.n - int64(br.Buffered())
	switch {
	case hr.err != nil:
		return header{}, fmt.Errorf("renditions: read source: %w", hr.err)
	case errors.Is(perr, ErrUnsupportedFormat):
		return header{}, perr
	case perr != nil && hr.exceeded:
		return header{}, fmt.Errorf("%w: %s header not complete within %d bytes", ErrCorrupt, format, InspectReadLimit)
	case perr != nil:
		return header{}, fmt.Errorf("%w: %s header: %w", ErrCorrupt, format, perr)
	case info.Width < 1 || info.Height < 1:
		return header{}, fmt.Errorf("%w: %s header gives a %dx%d image", ErrCorrupt, format, info.Width, info.Height)
	}
	if err := checkSource(info.Width, info.Height, lim); err != nil {
		return header{}, err
	}
	if info.Orientation >= 5 {
		info.Width, info.Height = info.Height, info.Width
	}
	return header{Info: info, consumed: consumed, progressive: progressive}, nil
}

// sniff identifies the format from the first bytes of a stream.
func sniff(b []byte) (Format, error) {
	has := func(off int, s string) bool { return len(b) >= off+len(s) && string(b[off:off+len(s)]) == s }
	switch {
	case has(0, "\xff\xd8\xff"):
		return JPEG, nil
	case has(0, "\x89PNG\r\n\x1a\n"):
		return PNG, nil
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return GIF, nil
	case has(0, "RIFF") && has(8, "WEBP"):
		return WebP, nil
	}
	what := "unknown"
	switch {
	case len(b) == 0:
		what = "empty input"
	case has(0, "BM"):
		what = "BMP"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		what = "TIFF"
	case has(4, "ftypavif"), has(4, "ftypavis"):
		what = "AVIF"
	case has(4, "ftyp"):
		what = "HEIF/ISO media"
	case has(0, "\x00\x00\x01\x00"):
		what = "ICO"
	case has(0, "8BPS"):
		what = "PSD"
	case has(0, "%PDF"):
		what = "PDF"
	}
	return "", fmt.Errorf("%w (%s; accepted: JPEG, PNG, GIF, WebP)", ErrUnsupportedFormat, what)
}

type jpegHeader struct {
	width, height, orientation int
	progressive                bool
	components                 int
	planes                     float64 // total component area in full-size planes
}

// readJPEGHeader walks the marker segments of a JPEG from SOI to the first frame header,
// reading only the segments it needs (the first EXIF APP1 and the SOF) and skipping the rest.
func readJPEGHeader(br *bufio.Reader) (jpegHeader, error) {
	h := jpegHeader{orientation: 1}
	if _, err := br.Discard(2); err != nil { // SOI, checked by sniff
		return h, err
	}
	exifSeen := false
	for {
		// Find the next marker: 0xFF, any fill bytes, then the code. Stray bytes between
		// segments are skipped, as libjpeg does.
		c, err := br.ReadByte()
		if err != nil {
			return h, err
		}
		if c != 0xFF {
			continue
		}
		for c == 0xFF {
			if c, err = br.ReadByte(); err != nil {
				return h, err
			}
		}
		switch {
		case c == 0x00, c == 0x01, c >= 0xD0 && c <= 0xD7: // stuffed zero, TEM, RSTn: no length
			continue
		case c == 0xD8:
			return h, errors.New("second start-of-image marker")
		case c == 0xD9:
			return h, errors.New("end of image before any frame header")
		case c == 0xDA:
			return h, errors.New("scan before any frame header")
		}
		var lb [2]byte
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			return h, err
		}
		n := int(binary.BigEndian.Uint16(lb[:])) - 2
		if n < 0 {
			return h, fmt.Errorf("marker 0x%02X has length %d", c, n+2)
		}
		switch {
		case c == 0xC0, c == 0xC1, c == 0xC2: // baseline, extended sequential, progressive
			if n < 6 {
				return h, fmt.Errorf("frame header of %d bytes", n)
			}
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return h, err
			}
			if seg[0] != 8 {
				return h, fmt.Errorf("%w: %d-bit JPEG", ErrUnsupportedFormat, seg[0])
			}
			h.height = int(binary.BigEndian.Uint16(seg[1:]))
			h.width = int(binary.BigEndian.Uint16(seg[3:]))
			switch nc := int(seg[5]); {
			case nc != 1 && nc != 3 && nc != 4:
				return h, fmt.Errorf("%w: JPEG with %d components", ErrUnsupportedFormat, nc)
			case n < 6+3*nc:
				return h, fmt.Errorf("frame header of %d bytes for %d components", n, nc)
			}
			h.progressive = c == 0xC2
			h.components = int(seg[5])
			var hmax, vmax int
			for i := range h.components {
				f := seg[7+3*i]
				hmax, vmax = max(hmax, int(f>>4)), max(vmax, int(f&15))
			}
			for i := range h.components {
				f := seg[7+3*i]
				if hmax > 0 && vmax > 0 {
					h.planes += float64(int(f>>4)*int(f&15)) / float64(hmax*vmax)
				}
			}
			return h, nil
		case c >= 0xC3 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC:
			return h, fmt.Errorf("%w: lossless, hierarchical or arithmetic-coded JPEG (SOF 0x%02X)", ErrUnsupportedFormat, c)
		case c == 0xE1 && !exifSeen:
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return h, err
			}
			if tiff, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00")); ok {
				exifSeen = true
				h.orientation = exifOrientation(tiff)
			}
		default:
			if _, err := br.Discard(n); err != nil {
				return h, err
			}
		}
	}
}

// exifOrientation returns the Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF
// block, or 1 when it is absent or out of range.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int64(bo.Uint32(tiff[4:8]))
	if off < 8 || off+2 > int64(len(tiff)) {
		return 1
	}
	count := int64(bo.Uint16(tiff[off:]))
	for i := int64(0); i < count; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(tiff)) {
			break
		}
		if bo.Uint16(tiff[e:]) != 0x0112 {
			continue
		}
		var v int
		switch bo.Uint16(tiff[e+2:]) {
		case 3: // SHORT, the type the standard gives
			v = int(bo.Uint16(tiff[e+8:]))
		case 4: // LONG, seen in the wild
			v = int(bo.Uint32(tiff[e+8:]))
		case 1, 7: // BYTE, UNDEFINED
			v = int(tiff[e+8])
		}
		if v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}
