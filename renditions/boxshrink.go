package renditions

// Before its Lanczos3 reduce, libvips's resize averages whole blocks of pixels (a box shrink by
// an integer factor) wherever the reduce would otherwise be more than twice what it needs (its
// "gap" of 2). A 15× reduce with Lanczos3 alone reads 90 taps per sample on each axis; a 7× box
// first costs one add per source pixel and leaves the Lanczos3 a 2.1× reduce of 13 taps. The box
// is where a shrink-on-load would be for formats that have none (PNG, WebP, GIF; a JPEG beyond
// 1/8 scale), and like the DCT scale it leaves the real filtering to the Lanczos3 reduce.

// boxFactor is the box size libvips uses for a reduce of scale source pixels per output pixel:
// the largest integer that still leaves the Lanczos3 at least 2×.
func boxFactor(scale float64) int { return max(1, int(scale/2)) }

// An axis is resample's geometry along one direction: source pixels are averaged k at a time
// (block i holds pixels i·k ≤ x < min((i+1)·k, size)) and the Lanczos3 taps ws index the blocks.
// A block's centre is (i+0.5)·k in source coordinates, so the window maps by a plain division
// and the result is not shifted. With k = 1 there is no box.
type axis struct {
	k, size int
	ws      weights
}

// newAxis plans out samples of the window [origin, origin+extent) of a source axis of size
// pixels.
func newAxis(origin, extent float64, out, size int) axis {
	k := boxFactor(extent / float64(out))
	blocks := (size + k - 1) / k
	return axis{k: k, size: size, ws: lanczosWeights(origin/float64(k), extent/float64(k)/float64(out), out, blocks)}
}

// src is the range of source pixels the axis reads: whole blocks ws.lo ≤ i < ws.hi.
func (a axis) src() (lo, hi int) { return a.ws.lo * a.k, min(a.ws.hi*a.k, a.size) }

// rows is the range of source rows block i of a vertical axis averages.
func (a axis) rows(i int) (lo, hi int) { return i * a.k, min((i+1)*a.k, a.size) }

// A rowBox averages blocks of source rows: add sums one row's pixels block by block, take
// writes the means of what was added since the last take. Samples have c channels of 8 bits.
type rowBox struct {
	kx, c, width int // block width, channels, source pixels in a row
	sums         []uint64
	rows         int
}

// newRowBox averages rows of the source columns x.src() into the blocks x.ws.lo…x.ws.hi.
func newRowBox(x axis, c int) *rowBox {
	lo, hi := x.src()
	return &rowBox{kx: x.k, c: c, width: hi - lo, sums: make([]uint64, (x.ws.hi-x.ws.lo)*c)}
}

// add sums row, the source pixels of x.src() (c bytes each).
func (b *rowBox) add(row []uint8) {
	row = row[:b.width*b.c]
	s := b.sums
	switch b.c {
	case 4:
		for x, i := 0, 0; x < len(row); x, i = x+4*b.kx, i+4 {
			var r, g, bl, a uint64
			blk := row[x:min(x+4*b.kx, len(row))]
			for p := 0; p+3 < len(blk); p += 4 {
				q := blk[p : p+4 : p+4]
				r += uint64(q[0])
				g += uint64(q[1])
				bl += uint64(q[2])
				a += uint64(q[3])
			}
			d := s[i : i+4 : i+4]
			d[0] += r
			d[1] += g
			d[2] += bl
			d[3] += a
		}
	case 3: // RGB straight from a PNG row, expanded to RGBA only once averaged (see expandRGB)
		for x, i := 0, 0; x < len(row); x, i = x+3*b.kx, i+3 {
			var r, g, bl uint64
			blk := row[x:min(x+3*b.kx, len(row))]
			for p := 0; p+2 < len(blk); p += 3 {
				q := blk[p : p+3 : p+3]
				r += uint64(q[0])
				g += uint64(q[1])
				bl += uint64(q[2])
			}
			d := s[i : i+3 : i+3]
			d[0] += r
			d[1] += g
			d[2] += bl
		}
	default:
		for x, i := 0, 0; x < len(row); x, i = x+b.kx, i+1 {
			var v uint64
			for _, p := range row[x:min(x+b.kx, len(row))] {
				v += uint64(p)
			}
			s[i] += v
		}
	}
	b.rows++
}

// take writes the mean of each block since the last take into out (len(sums) bytes) and
// starts anew. The last block of a row may hold fewer than kx pixels.
func (b *rowBox) take(out []uint8) {
	blocks := len(b.sums) / b.c
	full := uint64(b.kx * b.rows)
	for i := range blocks {
		n := full
		if i == blocks-1 {
			n = uint64((b.width - (blocks-1)*b.kx) * b.rows)
		}
		for ch := range b.c {
			j := i*b.c + ch
			out[j] = uint8((b.sums[j] + n/2) / n)
			b.sums[j] = 0
		}
	}
	b.rows = 0
}

// expandRGB writes the RGB pixels of src into dst as opaque RGBA.
func expandRGB(src, dst []uint8) {
	for i, j := 0, 0; i+2 < len(src); i, j = i+3, j+4 {
		d := dst[j : j+4 : j+4]
		d[0], d[1], d[2], d[3] = src[i], src[i+1], src[i+2], 255
	}
}
