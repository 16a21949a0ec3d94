package renditions

import (
	"errors"
	"image"
)

// A progressive JPEG cannot be decoded block by block: every scan adds to every block, so a
// decoder keeps all of the image's DCT coefficients until the last scan. jpegn keeps 64 int32s a
// block (4 bytes a plane pixel: 107 MB for a 17.9 MP 4:2:0 photo) whatever the DCT scale. At 1/8
// scale a block becomes one pixel that depends on its DC coefficient alone, and jpegn's 1/4
// scale reads only the four lowest frequencies (zigzag 0, 1, 2 and 4), so decodeReduced keeps
// just the coefficients up to the highest zigzag index it needs: 1 or 5 int32s a block, 4 or 20
// bytes instead of 256. It is used after pruneScans has dropped the scans the reduced decode
// does not read, and gives exactly jpegn's pixels for the same data (TestReducedMatchesJPEGN):
// the same coefficient arithmetic, dequantization and reduced IDCTs.

// errNotReduced is returned by decodeReduced for a frame it leaves to jpegn (anything other than
// a progressive Huffman frame of one grey or three YCbCr components in a sampling image.YCbCr
// has, or a scan script whose kept refinement scans reach past the coefficients it keeps).
// Nothing large has been allocated when it is returned.
var errNotReduced = errors.New("renditions: not a reduced progressive decode")

// errReducedSyntax is returned for a stream that does not parse; the caller lets jpegn judge it.
var errReducedSyntax = errors.New("renditions: progressive JPEG does not parse")

// reducedComp is one component of a reduced decode.
type reducedComp struct {
	id, ssX, ssY, qt int
	dcTab, acTab     int
	nbx, nby         int      // MCU-padded blocks (buffer layout, as jpegn)
	bpl, bpc         int      // true blocks per line and column (non-interleaved scans)
	width, height    int      // scaled size of the plane's meaningful part
	coef             []int32  // kept coefficients, zigzag order, per block
	nz               []uint64 // per block, bit k: coefficient k (> kStore) is non-zero
	dcPred           int
	pix              []byte
	stride           int
}

// reducedHuff is a Huffman table: a 9-bit lookup for short codes, canonical decoding otherwise.
type reducedHuff struct {
	look [512]uint16 // (length << 8) | symbol; 0 = longer code
	// acFast decodes, for an AC table, a run/size symbol and its value at once when code and
	// value together take at most 9 bits: (value << 16) | (run << 8) | bits; 0 = use look.
	acFast  [512]int32
	maxcode [18]int32 // largest code of each length, −1 when none
	valptr  [17]int32
	mincode [17]int32
	vals    [256]uint8
	ok      bool
}

func (h *reducedHuff) build(counts [16]uint8, vals []byte) bool {
	*h = reducedHuff{}
	copy(h.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.valptr[l] = k
		h.mincode[l] = code
		if n == 0 {
			h.maxcode[l] = -1
		} else {
			h.maxcode[l] = code + n - 1
		}
		for i := int32(0); i < n; i++ {
			if l <= 9 {
				shift := 9 - l
				for j := int32(0); j < 1<<shift; j++ {
					h.look[(code<<shift)|j] = uint16(l)<<8 | uint16(h.vals[k])
				}
			}
			code++
			k++
		}
		if code > 1<<l {
			return false
		}
		code <<= 1
	}
	h.maxcode[17] = 0x7fffffff
	for i, e := range h.look {
		l, sym := int(e>>8), int(e&0xFF)
		r, sz := sym>>4, sym&15
		if e == 0 || sz == 0 || l+sz > 9 {
			continue
		}
		v := (i >> (9 - l - sz)) & (1<<sz - 1)
		if v < 1<<(sz-1) {
			v += (-1 << sz) + 1
		}
		h.acFast[i] = int32(v)<<16 | int32(r)<<8 | int32(l+sz)
	}
	h.ok = true
	return true
}

// reducedBits reads the entropy-coded data of one scan (seg), unstuffing FF 00 and stopping at
// markers; past the end it gives 1 bits (as the padding of a JPEG scan), so a truncated scan
// decodes as garbage, never out of bounds.
type reducedBits struct {
	seg    []byte
	pos    int
	acc    uint64
	n      int
	marker bool // a marker (or the end) was reached
}

func (b *reducedBits) fill() {
	for b.n <= 56 {
		if b.marker || b.pos >= len(b.seg) {
			b.marker = true
			b.acc = b.acc<<8 | 0xFF
			b.n += 8
			continue
		}
		c := b.seg[b.pos]
		if c == 0xFF {
			if b.pos+1 < len(b.seg) && b.seg[b.pos+1] == 0x00 {
				b.pos += 2
			} else {
				b.marker = true
				continue
			}
		} else {
			b.pos++
		}
		b.acc = b.acc<<8 | uint64(c)
		b.n += 8
	}
}

func (b *reducedBits) bits(n int) int {
	if n == 0 {
		return 0
	}
	if b.n < n {
		b.fill()
	}
	b.n -= n
	return int(b.acc>>b.n) & (1<<n - 1)
}

func (b *reducedBits) bit() int { return b.bits(1) }

// receive reads an s-bit magnitude and extends its sign (JPEG F.2.2.1).
func (b *reducedBits) receive(s int) int {
	if s == 0 {
		return 0
	}
	if s > 16 {
		s = 16
	}
	v := b.bits(s)
	if v < 1<<(s-1) {
		v += (-1 << s) + 1
	}
	return v
}

func (b *reducedBits) symbol(h *reducedHuff) int {
	if b.n < 16 {
		b.fill()
	}
	if e := h.look[(b.acc>>(b.n-9))&511]; e != 0 {
		b.n -= int(e >> 8)
		return int(e & 0xFF)
	}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | int32(b.bit())
		if h.maxcode[l] >= 0 && code <= h.maxcode[l] && code >= h.mincode[l] {
			i := h.valptr[l] + code - h.mincode[l]
			if i < 0 || i > 255 {
				return 0
			}
			return int(h.vals[i])
		}
	}
	return 0 // no such code: treated as EOB, as jpegn does
}

// restart skips to the RSTn marker that follows an interval and resets the reader.
func (b *reducedBits) restart() {
	b.acc, b.n, b.marker = 0, 0, false
	for b.pos+1 < len(b.seg) {
		if b.seg[b.pos] == 0xFF && b.seg[b.pos+1] >= 0xD0 && b.seg[b.pos+1] <= 0xD7 {
			b.pos += 2
			return
		}
		if b.seg[b.pos] == 0xFF && b.seg[b.pos+1] != 0x00 && b.seg[b.pos+1] != 0xFF {
			return // another marker: the scan ends early
		}
		b.pos++
	}
}

// decodeReduced decodes a progressive JPEG at DCT scale 1/denom (4 or 8), keeping only the
// coefficients that scale reads. It returns errNotReduced for frames it leaves to jpegn and
// errReducedSyntax for a stream it cannot parse (the caller then lets jpegn decide).
func decodeReduced(data []byte, denom int) (image.Image, error) {
	need := map[int]int{8: 0, 4: 4}
	kNeed, ok := need[denom]
	if !ok || len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errNotReduced
	}
	var (
		comps          []reducedComp
		qt             [4][64]uint16
		qtAvail        int
		dc, ac         [4]reducedHuff
		restartEvery   int
		width, height  int
		mbw, mbh       int
		ssxMax, ssyMax int
		kStore         = -1
		scans          int
		adobeRGB       bool
	)
	pos := 2
	seg := func() ([]byte, bool) { // the payload of the segment whose length is at pos
		if pos+2 > len(data) {
			return nil, false
		}
		n := int(data[pos])<<8 | int(data[pos+1])
		if n < 2 || pos+n > len(data) {
			return nil, false
		}
		p := data[pos+2 : pos+n]
		pos += n
		return p, true
	}
	for {
		for pos < len(data) && data[pos] != 0xFF {
			pos++ // stray bytes between segments, as jpegn tolerates
		}
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			if scans > 0 {
				break
			}
			return nil, errReducedSyntax
		}
		m := data[pos]
		pos++
		if m == 0xD9 {
			break
		}
		if m == 0x01 || m >= 0xD0 && m <= 0xD7 {
			continue
		}
		p, ok := seg()
		if !ok {
			return nil, errReducedSyntax
		}
		switch {
		case m == 0xC2:
			if comps != nil || len(p) < 6 || p[0] != 8 {
				return nil, errNotReduced
			}
			height, width = int(p[1])<<8|int(p[2]), int(p[3])<<8|int(p[4])
			nc := int(p[5])
			if width == 0 || height == 0 || (nc != 1 && nc != 3) || len(p) < 6+3*nc {
				return nil, errNotReduced
			}
			if int64(width)*int64(height) > int64(len(data))*1024 { // jpegn's own refusal
				return nil, errNotReduced
			}
			for i := range nc {
				c := reducedComp{id: int(p[6+3*i]), ssX: int(p[7+3*i]) >> 4, ssY: int(p[7+3*i]) & 15, qt: int(p[8+3*i])}
				if c.qt > 3 {
					return nil, errNotReduced
				}
				comps = append(comps, c)
			}
			if nc == 1 {
				comps[0].ssX, comps[0].ssY = 1, 1
			} else {
				if comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B' {
					return nil, errNotReduced
				}
				if _, ok := ycbcrRatio(comps); !ok {
					return nil, errNotReduced
				}
			}
			for _, c := range comps {
				ssxMax, ssyMax = max(ssxMax, c.ssX), max(ssyMax, c.ssY)
			}
			mbw, mbh = (width+8*ssxMax-1)/(8*ssxMax), (height+8*ssyMax-1)/(8*ssyMax)
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xCC:
			return nil, errNotReduced // baseline, lossless, arithmetic, hierarchical
		case m == 0xEE:
			if len(p) >= 12 && string(p[:5]) == "Adobe" && p[11] == 0 {
				adobeRGB = true
			}
		case m == 0xDB:
			for len(p) > 0 {
				pq, tq := int(p[0])>>4, int(p[0])&15
				size := 65 + 64*pq
				if pq > 1 || tq > 3 || len(p) < size {
					return nil, errReducedSyntax
				}
				for j := range 64 {
					v := uint16(p[1+j])
					if pq == 1 {
						v = uint16(p[1+2*j])<<8 | uint16(p[2+2*j])
					}
					qt[tq][zigzag[j]] = v
				}
				qtAvail |= 1 << tq
				p = p[size:]
			}
		case m == 0xC4:
			for len(p) > 0 {
				if len(p) < 17 {
					return nil, errReducedSyntax
				}
				tc, th := int(p[0])>>4, int(p[0])&15
				var counts [16]uint8
				total := 0
				for i := range 16 {
					counts[i] = p[1+i]
					total += int(p[1+i])
				}
				if tc > 1 || th > 3 || total > 256 || len(p) < 17+total {
					return nil, errReducedSyntax
				}
				t := &dc[th]
				if tc == 1 {
					t = &ac[th]
				}
				if !t.build(counts, p[17:17+total]) {
					return nil, errReducedSyntax
				}
				p = p[17+total:]
			}
		case m == 0xDD:
			if len(p) < 2 {
				return nil, errReducedSyntax
			}
			restartEvery = int(p[0])<<8 | int(p[1])
		case m == 0xDA:
			if comps == nil {
				return nil, errReducedSyntax
			}
			if kStore < 0 { // first scan: size the stores
				if adobeRGB && len(comps) == 3 {
					return nil, errNotReduced
				}
				// A refinement scan must know which coefficients of its band are non-zero:
				// past kStore one bit a coefficient is enough.
				kStore = kNeed
				masks := false
				for _, r := range refinementEnds(data[pos-len(p)-4:]) {
					masks = masks || r > kStore
				}
				for i := range comps {
					c := &comps[i]
					c.nbx, c.nby = mbw*c.ssX, mbh*c.ssY
					fw, fh := (width*c.ssX+ssxMax-1)/ssxMax, (height*c.ssY+ssyMax-1)/ssyMax
					c.bpl, c.bpc = (fw+7)/8, (fh+7)/8
					c.width, c.height = (fw+denom-1)/denom, (fh+denom-1)/denom
					c.coef = make([]int32, c.nbx*c.nby*(kStore+1))
					if masks {
						c.nz = make([]uint64, c.nbx*c.nby)
					}
				}
			}
			end := scanEnd(data, pos)
			if err := decodeReducedScan(p, data[pos:end], comps, &dc, &ac, qtAvail, restartEvery, mbw, mbh, kStore); err != nil {
				return nil, err
			}
			scans++
			pos = end
		}
	}
	if comps == nil || scans == 0 {
		return nil, errReducedSyntax
	}
	return reducedImage(comps, qt, width, height, denom, kStore), nil
}

// ycbcrRatio maps three components' sampling factors to an image.YCbCr ratio.
func ycbcrRatio(c []reducedComp) (image.YCbCrSubsampleRatio, bool) {
	if c[1].ssX != 1 || c[1].ssY != 1 || c[2].ssX != 1 || c[2].ssY != 1 {
		return 0, false
	}
	switch [2]int{c[0].ssX, c[0].ssY} {
	case [2]int{1, 1}:
		return image.YCbCrSubsampleRatio444, true
	case [2]int{2, 1}:
		return image.YCbCrSubsampleRatio422, true
	case [2]int{2, 2}:
		return image.YCbCrSubsampleRatio420, true
	case [2]int{1, 2}:
		return image.YCbCrSubsampleRatio440, true
	case [2]int{4, 1}:
		return image.YCbCrSubsampleRatio411, true
	case [2]int{4, 2}:
		return image.YCbCrSubsampleRatio410, true
	}
	return 0, false
}

// refinementEnds lists the Se of every AC refinement scan from the SOS at data[0:]: a block must
// keep the coefficients such a scan refines, since refinement depends on which are non-zero.
func refinementEnds(data []byte) []int {
	var out []int
	pos := 0
	for pos+4 <= len(data) {
		if data[pos] != 0xFF || data[pos+1] == 0x00 || data[pos+1] == 0xFF || (data[pos+1] >= 0xD0 && data[pos+1] <= 0xD7) {
			pos++
			continue
		}
		m := data[pos+1]
		if m == 0xD9 {
			break
		}
		n := int(data[pos+2])<<8 | int(data[pos+3])
		if n < 2 || pos+2+n > len(data) {
			break
		}
		if p := data[pos+4 : pos+2+n]; m == 0xDA && len(p) >= 1 && len(p) >= 1+2*int(p[0])+3 {
			k := 1 + 2*int(p[0])
			if ss, se, ah := int(p[k]), int(p[k+1]), p[k+2]>>4; ss > 0 && ah > 0 {
				out = append(out, se)
			}
		}
		pos += 2 + n
		if m == 0xDA {
			pos = scanEnd(data, pos)
		}
	}
	return out
}

// scanEnd is the index of the marker (other than RSTn) that ends the entropy-coded data at pos.
func scanEnd(data []byte, pos int) int {
	for pos+1 < len(data) {
		if data[pos] == 0xFF {
			if c := data[pos+1]; c != 0x00 && (c < 0xD0 || c > 0xD7) {
				if c == 0xFF {
					pos++
					continue
				}
				return pos
			}
		}
		pos++
	}
	return len(data)
}

// scanComponents reads the component selectors of a scan header h (SOS without its length): the
// frame's components the scan codes, in scan order, each given its DC and AC table numbers. A
// component the frame lacks, one whose quantisation table is missing (qtAvail, a bit per
// table) or a table number over 3 is a syntax error. The spectral selection follows at
// h[1+2*len(components)].
func scanComponents(h []byte, comps []reducedComp, qtAvail int) ([]*reducedComp, error) {
	if len(h) < 1 {
		return nil, errReducedSyntax
	}
	ns := int(h[0])
	if ns < 1 || ns > 4 || len(h) < 1+2*ns+3 {
		return nil, errReducedSyntax
	}
	sc := make([]*reducedComp, 0, ns)
	for i := range ns {
		id, tabs := int(h[1+2*i]), h[2+2*i]
		var c *reducedComp
		for j := range comps {
			if comps[j].id == id {
				c = &comps[j]
				break
			}
		}
		if c == nil || qtAvail&(1<<c.qt) == 0 {
			return nil, errReducedSyntax
		}
		c.dcTab, c.acTab = int(tabs>>4), int(tabs&15)
		if c.dcTab > 3 || c.acTab > 3 {
			return nil, errReducedSyntax
		}
		sc = append(sc, c)
	}
	return sc, nil
}

// decodeReducedScan decodes one scan (header h, entropy data seg) into the components' stores.
func decodeReducedScan(h, seg []byte, comps []reducedComp, dcT, acT *[4]reducedHuff, qtAvail, restartEvery, mbw, mbh, kStore int) error {
	sc, err := scanComponents(h, comps, qtAvail)
	if err != nil {
		return err
	}
	ns := len(sc)
	k := 1 + 2*ns
	ss, se, ah, al := int(h[k]), int(h[k+1]), int(h[k+2]>>4), int(h[k+2]&15)
	if ss > se || se > 63 || ah > 13 || al > 13 || (ss == 0 && se != 0) || (ss > 0 && ns != 1) {
		return errReducedSyntax
	}
	b := &reducedBits{seg: seg}
	stride := kStore + 1
	left := restartEvery
	tick := func() { // after each MCU (or block, in a non-interleaved scan)
		if restartEvery == 0 {
			return
		}
		if left--; left == 0 {
			b.restart()
			for _, c := range sc {
				c.dcPred = 0
			}
			left = restartEvery
		}
	}
	if ss == 0 {
		for _, c := range sc {
			if ah == 0 {
				c.dcPred = 0
			}
			if ah == 0 && !dcT[c.dcTab].ok {
				return errReducedSyntax
			}
		}
		dcBlock := func(c *reducedComp, bi int) {
			if ah == 0 {
				c.dcPred += b.receive(b.symbol(&dcT[c.dcTab]))
				c.coef[bi*stride] = int32(c.dcPred) << al
			} else if b.bit() != 0 {
				c.coef[bi*stride] |= 1 << al
			}
		}
		if ns == 1 {
			c := sc[0]
			for by := range c.bpc {
				for bx := range c.bpl {
					dcBlock(c, by*c.nbx+bx)
					tick()
				}
			}
			return nil
		}
		for my := range mbh {
			for mx := range mbw {
				for _, c := range sc {
					for sy := range c.ssY {
						for sx := range c.ssX {
							dcBlock(c, (my*c.ssY+sy)*c.nbx+mx*c.ssX+sx)
						}
					}
				}
				tick()
			}
		}
		return nil
	}

	c := sc[0]
	t := &acT[c.acTab]
	if !t.ok {
		return errReducedSyntax
	}
	total := c.bpl * c.bpc
	eobRun, idx := 0, 0
	for by := range c.bpc {
		for bx := range c.bpl {
			bi := by*c.nbx + bx
			blk := reducedBlock{c: c.coef[bi*stride : (bi+1)*stride]}
			if c.nz != nil {
				blk.nz = &c.nz[bi]
			}
			switch {
			case eobRun > 0:
				if ah > 0 {
					blk.refineNonZero(b, ss, se, 1<<al)
				}
				eobRun--
			case ah == 0:
				eobRun = blk.acFirst(b, t, ss, se, al, total-idx)
			default:
				eobRun = blk.acRefine(b, t, ss, se, 1<<al, total-idx)
			}
			idx++
			if restartEvery > 0 {
				if left--; left == 0 {
					b.restart()
					eobRun = 0
					left = restartEvery
				}
			}
		}
	}
	return nil
}

// reducedBlock is one block's kept coefficients (zigzag 0…len(c)−1) and, when a refinement
// scan reaches past them, the mask of which later coefficients are non-zero.
type reducedBlock struct {
	c  []int32
	nz *uint64
}

func (blk reducedBlock) nonZero(k int) bool {
	if k < len(blk.c) {
		return blk.c[k] != 0
	}
	return blk.nz != nil && *blk.nz>>k&1 != 0
}

func (blk reducedBlock) set(k int, v int32) {
	if k < len(blk.c) {
		blk.c[k] = v
	} else if blk.nz != nil {
		*blk.nz |= 1 << k
	}
}

// refine adds a correction bit's delta to non-zero coefficient k, away from zero.
func (blk reducedBlock) refine(k int, delta int32) {
	if k < len(blk.c) {
		if blk.c[k] >= 0 {
			blk.c[k] += delta
		} else {
			blk.c[k] -= delta
		}
	}
}

// acFirst decodes one block of an AC first scan (G.1.2.2) and returns the EOB run left after
// this block.
func (blk reducedBlock) acFirst(b *reducedBits, t *reducedHuff, ss, se, al, remaining int) int {
	for k := ss; k <= se; {
		sym := b.symbol(t)
		s, r := sym&15, sym>>4
		if s == 0 {
			if r == 15 {
				k += 16
				continue
			}
			run := 1 << r
			if r > 0 {
				run += b.bits(r)
			}
			return min(run, remaining) - 1
		}
		k += r
		if k > se {
			return 0
		}
		blk.set(k, int32(b.receive(s)<<al))
		k++
	}
	return 0
}

// acRefine decodes one block of an AC refinement scan (G.1.2.3) as jpegn does and returns the
// EOB run left after this block.
func (blk reducedBlock) acRefine(b *reducedBits, t *reducedHuff, ss, se int, delta int32, remaining int) int {
	zig := ss
	eob := 0
loop:
	for zig <= se {
		sym := b.symbol(t)
		r, s := sym>>4, sym&15
		var z int32
		switch s {
		case 0:
			if r != 15 {
				run := 1 << r
				if r > 0 {
					run += b.bits(r)
				}
				eob = min(run, remaining) - 1
				break loop
			}
		case 1:
			z = delta
			if b.bit() == 0 {
				z = -z
			}
		default:
			continue loop
		}
		nz := r
		for zig <= se {
			if !blk.nonZero(zig) {
				if nz == 0 {
					break
				}
				nz--
			} else if b.bit() != 0 {
				blk.refine(zig, delta)
			}
			zig++
		}
		if zig > se {
			break
		}
		if z != 0 {
			blk.set(zig, z)
		}
		zig++
	}
	blk.refineNonZero(b, zig, se, delta)
	return eob
}

// refineNonZero reads a correction bit for each non-zero coefficient of zigzag from…se.
func (blk reducedBlock) refineNonZero(b *reducedBits, from, se int, delta int32) {
	for k := from; k <= se; k++ {
		if blk.nonZero(k) && b.bit() != 0 {
			blk.refine(k, delta)
		}
	}
}

// reducedImage dequantizes and inverse-transforms the kept coefficients at 1/denom scale into
// planes laid out as jpegn lays them out, and wraps them as image.Gray or image.YCbCr.
func reducedImage(comps []reducedComp, qt [4][64]uint16, width, height, denom, kStore int) image.Image {
	out := 8 / denom
	stride := kStore + 1
	for i := range comps {
		c := &comps[i]
		c.stride = c.nbx * out
		c.pix = make([]byte, c.stride*c.nby*out)
		q := &qt[c.qt]
		for by := range c.nby {
			py := by * out
			if py >= c.height {
				continue
			}
			for bx := range c.nbx {
				px := bx * out
				if px >= c.width {
					continue
				}
				blk := c.coef[(by*c.nbx+bx)*stride:]
				reducedIDCT(blk, q, c.pix, py*c.stride+px, c.stride, denom)
			}
		}
		c.coef = nil
	}
	rect := image.Rect(0, 0, (width+denom-1)/denom, (height+denom-1)/denom)
	if len(comps) == 1 {
		return &image.Gray{Pix: comps[0].pix, Stride: comps[0].stride, Rect: rect}
	}
	ratio, _ := ycbcrRatio(comps)
	return &image.YCbCr{Y: comps[0].pix, Cb: comps[1].pix, Cr: comps[2].pix, YStride: comps[0].stride, CStride: comps[1].stride, SubsampleRatio: ratio, Rect: rect}
}

// reducedDequant is jpegn's dequantization: the product, saturated at ±8192.
func reducedDequant(v int32, q uint16) int32 {
	p := int64(v) * int64(q)
	return int32(min(max(p, -1<<13), 1<<13))
}

func reducedClamp(x int32) byte { return byte(min(max(x, 0), 255)) }

// zigzag maps a zigzag index to its natural (row-major) position in an 8×8 block.
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}
