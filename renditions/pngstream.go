package renditions

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"image"
	"io"

	"github.com/klauspost/compress/zlib"
)

// A PNG's rows arrive in order, and resample's horizontal pass reads one source row at a time,
// so a rendition that shrinks a PNG need not hold the decoded image (4 bytes a pixel: 96 MB for
// 24 MP, plus the garbage of decoding it): resamplePNGStream inflates, unfilters and reduces each
// row as it comes, holding two source rows and the horizontal pass's output (rows × output width
// × 4 bytes), as libvips's sequential PNG load does. The result is exactly resample's for the
// image image/png decodes (TestPNGStreamMatchesResample).

// streamsPNG reports whether Generate renders plan from a PNG described by info with
// resamplePNGStream: 8-bit RGB or RGBA, not interlaced, resized.
func streamsPNG(info Info, plan Plan) bool {
	return info.Format == PNG && info.BitDepth == 8 && !info.Interlaced && !info.Paletted &&
		(info.Channels == 3 || info.Channels == 4) && info.Orientation <= 1 && plan.Resizes()
}

var errPNGStream = errors.New("not an 8-bit non-interlaced RGB or RGBA PNG")

// resamplePNGStream reads a PNG (signature first) from r and returns the area win of it
// resampled to w×h, as resample returns it for the decoded image. The whole stream is read, up
// to IEND, and every chunk's CRC checked, as image/png does.
func resamplePNGStream(r io.Reader, win box, w, h int) (*image.NRGBA, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var sig [8]byte
	if _, err := io.ReadFull(br, sig[:]); err != nil || string(sig[:]) != "\x89PNG\r\n\x1a\n" {
		return nil, errors.New("not a PNG")
	}
	c := &pngChunks{r: br, crc: crc32.NewIEEE()}
	var (
		width, height, bpp int
		key                []byte // tRNS colour key of an RGB image (8-bit samples)
	)
	for {
		typ, err := c.next()
		if err != nil {
			return nil, err
		}
		if typ == "IDAT" {
			break
		}
		data, err := c.readAll(1 << 20)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "IHDR":
			if len(data) != 13 {
				return nil, errors.New("bad IHDR")
			}
			width, height = int(binary.BigEndian.Uint32(data[0:])), int(binary.BigEndian.Uint32(data[4:]))
			switch {
			case data[8] != 8 || data[12] != 0:
				return nil, errPNGStream
			case data[9] == 2:
				bpp = 3
			case data[9] == 6:
				bpp = 4
			default:
				return nil, errPNGStream
			}
		case "tRNS":
			if bpp == 3 && len(data) == 6 {
				key = []byte{data[1], data[3], data[5]}
			}
		case "IEND":
			return nil, errors.New("no image data")
		}
	}
	if bpp == 0 || width < 1 || height < 1 {
		return nil, errors.New("IDAT before IHDR")
	}
	// klauspost/compress's inflate (already in the module graph through gocloud) reads its input
	// through a concrete *bufio.Reader rather than an io.ByteReader interface call per byte: on
	// a 24 MP PNG it takes a fifth off the CPU of the whole rendition (BENCHMARKS.md, issue 10).
	zr, err := zlib.NewReader(&idatReader{c: c})
	if err != nil {
		return nil, err
	}
	ax, ay := newAxis(win.l, win.w(), w, width), newAxis(win.t, win.h(), h, height)
	xs, ys := ax.ws, ay.ws
	x0, x1 := ax.src()
	y0, y1 := ay.src()
	mid := make([]uint8, (ys.hi-ys.lo)*w*4)
	n := width * bpp
	prev, cur := make([]byte, n+1), make([]byte, n+1)
	row := make([]uint8, (x1-x0)*4)
	box := ax.k > 1 || ay.k > 1
	var (
		bx     *rowBox
		blocks []uint8
		rgb    []uint8 // an opaque RGB row's blocks, averaged before they become RGBA
	)
	if box {
		bx, blocks = newRowBox(ax, 4), make([]uint8, (xs.hi-xs.lo)*4)
		if bpp == 3 && key == nil {
			bx, rgb = newRowBox(ax, 3), make([]uint8, (xs.hi-xs.lo)*3)
		}
	}
	for y := range height {
		if _, err := io.ReadFull(zr, cur); err != nil {
			return nil, fmt.Errorf("row %d: %w", y, err)
		}
		if err := unfilter(cur, prev, bpp); err != nil {
			return nil, err
		}
		if y >= y0 && y < y1 {
			switch {
			case !box:
				premultiplyRow(cur[1+x0*bpp:1+x1*bpp], bpp, key, row)
				reduceRow(row, xs, mid[(y-ys.lo)*w*4:(y-ys.lo+1)*w*4])
			case rgb != nil:
				bx.add(cur[1+x0*3 : 1+x1*3])
			default:
				premultiplyRow(cur[1+x0*bpp:1+x1*bpp], bpp, key, row)
				bx.add(row)
			}
			if _, end := ay.rows(y / ay.k); box && y == end-1 { // the last row of its block
				i := y/ay.k - ys.lo
				if rgb != nil {
					bx.take(rgb)
					expandRGB(rgb, blocks)
				} else {
					bx.take(blocks)
				}
				reduceRow(blocks, xs, mid[i*w*4:(i+1)*w*4])
			}
		}
		prev, cur = cur, prev
	}
	// The rest of the stream: the zlib end (its checksum) and every chunk up to IEND.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, err
	}
	if err := zr.Close(); err != nil {
		return nil, err
	}
	for typ := c.pending; typ != "IEND"; {
		if _, err := c.readAll(0); err != nil {
			return nil, err
		}
		if typ, err = c.next(); err != nil {
			return nil, err
		}
	}
	if _, err := c.readAll(0); err != nil {
		return nil, err
	}
	return reduceColumns(mid, ys, w, h), nil
}

// pngChunks reads a PNG's chunks: next reads a chunk's length and type, then its data is read
// through read/readAll, which check its CRC at its end.
type pngChunks struct {
	r       *bufio.Reader
	crc     hash.Hash32
	left    int    // data bytes of the current chunk not yet read
	pending string // type of the current chunk
	inChunk bool
}

func (c *pngChunks) next() (string, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return "", fmt.Errorf("chunk header: %w", noEOF(err))
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n > 0x7fffffff {
		return "", errors.New("chunk too long")
	}
	c.left, c.pending, c.inChunk = int(n), string(hdr[4:]), true
	c.crc.Reset()
	c.crc.Write(hdr[4:])
	return c.pending, nil
}

// read reads the current chunk's data into p; at its end it checks the CRC and returns io.EOF.
func (c *pngChunks) read(p []byte) (int, error) {
	if c.left == 0 {
		if c.inChunk {
			c.inChunk = false
			var sum [4]byte
			if _, err := io.ReadFull(c.r, sum[:]); err != nil {
				return 0, fmt.Errorf("%s CRC: %w", c.pending, noEOF(err))
			}
			if binary.BigEndian.Uint32(sum[:]) != c.crc.Sum32() {
				return 0, fmt.Errorf("%s: checksum mismatch", c.pending)
			}
		}
		return 0, io.EOF
	}
	p = p[:min(len(p), c.left)]
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	c.left -= n
	if err == io.EOF && c.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// readAll reads the rest of the current chunk (keeping at most keep bytes of it).
func (c *pngChunks) readAll(keep int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.read(buf)
		if len(out)+n <= keep {
			out = append(out, buf[:n]...)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// idatReader is the concatenated data of consecutive IDAT chunks; it stops (io.EOF) at the
// first other chunk, whose type is left in c.pending.
type idatReader struct{ c *pngChunks }

func (d *idatReader) Read(p []byte) (int, error) {
	for {
		if d.c.pending != "IDAT" {
			return 0, io.EOF
		}
		n, err := d.c.read(p)
		if err != io.EOF {
			return n, err
		}
		if _, err := d.c.next(); err != nil {
			return 0, err
		}
	}
}

// unfilter reverses a row's PNG filter (cur[0] is the filter type) in place, given the previous
// unfiltered row (zeros for the first row).
func unfilter(cur, prev []byte, bpp int) error {
	c, p := cur[1:], prev[1:]
	switch cur[0] {
	case 0:
	case 1:
		for i := bpp; i < len(c); i++ {
			c[i] += c[i-bpp]
		}
	case 2:
		for i := range c {
			c[i] += p[i]
		}
	case 3:
		for i := range bpp {
			c[i] += p[i] / 2
		}
		for i := bpp; i < len(c); i++ {
			c[i] += uint8((int(c[i-bpp]) + int(p[i])) / 2)
		}
	case 4:
		for i := range bpp {
			c[i] += p[i]
		}
		for i := bpp; i < len(c); i++ {
			a, b, cc := int(c[i-bpp]), int(p[i]), int(p[i-bpp])
			pa, pb, pc := abs(b-cc), abs(a-cc), abs(a+b-2*cc)
			switch {
			case pa <= pb && pa <= pc:
				c[i] += uint8(a)
			case pb <= pc:
				c[i] += uint8(b)
			default:
				c[i] += uint8(cc)
			}
		}
	default:
		return fmt.Errorf("bad filter type %d", cur[0])
	}
	return nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// premultiplyRow turns RGB (bpp 3, with an optional tRNS colour key) or straight RGBA samples
// into premultiplied RGBA, as readRow does for the image/png decode of the same row.
func premultiplyRow(src []byte, bpp int, key []byte, dst []uint8) {
	if bpp == 3 {
		for i, j := 0, 0; i+2 < len(src); i, j = i+3, j+4 {
			d := dst[j : j+4 : j+4]
			if key != nil && src[i] == key[0] && src[i+1] == key[1] && src[i+2] == key[2] {
				d[0], d[1], d[2], d[3] = 0, 0, 0, 0
				continue
			}
			d[0], d[1], d[2], d[3] = src[i], src[i+1], src[i+2], 255
		}
		return
	}
	for i := 0; i+3 < len(src); i += 4 {
		a := uint32(src[i+3])
		d := dst[i : i+4 : i+4]
		switch a {
		case 255:
			copy(d, src[i:i+4])
		case 0:
			d[0], d[1], d[2], d[3] = 0, 0, 0, 0
		default:
			d[0] = uint8((uint32(src[i])*a + 127) / 255)
			d[1] = uint8((uint32(src[i+1])*a + 127) / 255)
			d[2] = uint8((uint32(src[i+2])*a + 127) / 255)
			d[3] = uint8(a)
		}
	}
}
