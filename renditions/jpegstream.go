package renditions

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"image"
	"io"
)

// A baseline JPEG codes every block completely, once, in file order, so at the 1/8 and 1/4 DCT
// scales it can be decoded as it is read: each block's few needed coefficients are
// inverse-transformed into the output planes as soon as the block is decoded, and neither the
// file (17 MB for a 17.9 MP photo) nor any coefficient is held, as libjpeg's scaled decode does.
// decodeBaselineStream does that, with jpegn's arithmetic (TestBaselineStreamMatchesJPEGN).

// baselineStreamable reports whether the JPEG whose header is head (SOI up to the end of the
// frame header at least) is one decodeBaselineStream takes: sequential Huffman (SOF0 or SOF1),
// 8-bit, one grey or three YCbCr components in a sampling image.YCbCr has.
//
// size is the file's size: like jpegn, it refuses a frame of more than 1024 pixels a byte of
// file (a forged header), before any plane is allocated.
func baselineStreamable(head []byte, size int64) bool {
	s := &jpegStream{r: bufio.NewReader(bytes.NewReader(head))}
	return s.header() == nil && int64(s.width)*int64(s.height) <= 1024*size
}

// jpegStream is the state of one streamed baseline decode.
type jpegStream struct {
	r              *bufio.Reader
	comps          []reducedComp
	qt             [4][64]uint16
	qtAvail        int
	dc, ac         [4]reducedHuff
	restartEvery   int
	width, height  int
	mbw, mbh       int
	ssxMax, ssyMax int
	adobeRGB       bool
	stopRecording  func() // called when the first scan starts (the header is complete)
}

// nextMarker skips to the next marker and returns its code; io.ErrUnexpectedEOF at the end.
func (s *jpegStream) nextMarker() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		if c != 0xFF {
			continue // stray bytes (the padding after a scan), as jpegn tolerates
		}
		for c == 0xFF {
			if c, err = s.r.ReadByte(); err != nil {
				return 0, io.ErrUnexpectedEOF
			}
		}
		if c != 0x00 {
			return c, nil
		}
	}
}

// segment reads the payload of the segment whose length comes next; large payloads (APPn, COM)
// are skipped when keep is false.
func (s *jpegStream) segment(keep bool) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(s.r, l[:]); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	n := int(l[0])<<8 | int(l[1]) - 2
	if n < 0 {
		return nil, errReducedSyntax
	}
	if !keep {
		if _, err := s.r.Discard(n); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, nil
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(s.r, p); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return p, nil
}

// header reads up to and including the frame header, refusing (errNotReduced) what
// decodeBaselineStream does not take.
func (s *jpegStream) header() error {
	var soi [2]byte
	if _, err := io.ReadFull(s.r, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return errNotReduced
	}
	for s.comps == nil {
		m, err := s.nextMarker()
		if err != nil {
			return err
		}
		if err := s.tables(m); err != nil {
			return err
		}
	}
	if s.adobeRGB && len(s.comps) == 3 {
		return errNotReduced
	}
	return nil
}

// tables handles one marker segment outside a scan: frame header, tables, restart interval,
// Adobe's APP14; others are skipped.
func (s *jpegStream) tables(m byte) error {
	switch {
	case m == 0xD8 || m == 0x01 || m >= 0xD0 && m <= 0xD7:
		return nil
	case m == 0xC0 || m == 0xC1:
		p, err := s.segment(true)
		if err != nil {
			return err
		}
		if s.comps != nil || len(p) < 6 || p[0] != 8 {
			return errNotReduced
		}
		s.height, s.width = int(p[1])<<8|int(p[2]), int(p[3])<<8|int(p[4])
		nc := int(p[5])
		if s.width == 0 || s.height == 0 || (nc != 1 && nc != 3) || len(p) < 6+3*nc {
			return errNotReduced
		}
		comps := make([]reducedComp, nc)
		for i := range comps {
			comps[i] = reducedComp{id: int(p[6+3*i]), ssX: int(p[7+3*i]) >> 4, ssY: int(p[7+3*i]) & 15, qt: int(p[8+3*i])}
			if comps[i].qt > 3 {
				return errNotReduced
			}
		}
		if nc == 1 {
			comps[0].ssX, comps[0].ssY = 1, 1
		} else {
			if comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B' {
				return errNotReduced
			}
			if _, ok := ycbcrRatio(comps); !ok {
				return errNotReduced
			}
		}
		for _, c := range comps {
			s.ssxMax, s.ssyMax = max(s.ssxMax, c.ssX), max(s.ssyMax, c.ssY)
		}
		s.mbw, s.mbh = (s.width+8*s.ssxMax-1)/(8*s.ssxMax), (s.height+8*s.ssyMax-1)/(8*s.ssyMax)
		s.comps = comps
		return nil
	case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xCC:
		return errNotReduced // progressive, lossless, arithmetic, hierarchical
	case m == 0xEE:
		p, err := s.segment(true)
		if err == nil && len(p) >= 12 && string(p[:5]) == "Adobe" && p[11] == 0 {
			s.adobeRGB = true
		}
		return err
	case m == 0xDB:
		p, err := s.segment(true)
		if err != nil {
			return err
		}
		for len(p) > 0 {
			pq, tq := int(p[0])>>4, int(p[0])&15
			size := 65 + 64*pq
			if pq > 1 || tq > 3 || len(p) < size {
				return errReducedSyntax
			}
			for j := range 64 {
				v := uint16(p[1+j])
				if pq == 1 {
					v = uint16(p[1+2*j])<<8 | uint16(p[2+2*j])
				}
				s.qt[tq][zigzag[j]] = v
			}
			s.qtAvail |= 1 << tq
			p = p[size:]
		}
		return nil
	case m == 0xC4:
		p, err := s.segment(true)
		if err != nil {
			return err
		}
		for len(p) > 0 {
			if len(p) < 17 {
				return errReducedSyntax
			}
			tc, th := int(p[0])>>4, int(p[0])&15
			var counts [16]uint8
			total := 0
			for i := range 16 {
				counts[i] = p[1+i]
				total += int(p[1+i])
			}
			if tc > 1 || th > 3 || total > 256 || len(p) < 17+total {
				return errReducedSyntax
			}
			t := &s.dc[th]
			if tc == 1 {
				t = &s.ac[th]
			}
			if !t.build(counts, p[17:17+total]) {
				return errReducedSyntax
			}
			p = p[17+total:]
		}
		return nil
	case m == 0xDD:
		p, err := s.segment(true)
		if err != nil {
			return err
		}
		if len(p) < 2 {
			return errReducedSyntax
		}
		s.restartEvery = int(p[0])<<8 | int(p[1])
		return nil
	}
	_, err := s.segment(false)
	return err
}

// decodeBaselineStream decodes the baseline JPEG read from r at DCT scale 1/denom (4 or 8),
// reading up to its end-of-image marker. stopRecording, when not nil, is called once the
// header before the first scan has been read. A stream that ends before the end-of-image
// marker returns io.ErrUnexpectedEOF, a header or scan header that does not parse
// errReducedSyntax, and a frame the caller should have checked with baselineStreamable
// errNotReduced. Damaged entropy-coded data decodes as garbage, as with jpegn.
func decodeBaselineStream(r io.Reader, denom int, stopRecording func()) (image.Image, error) {
	s := &jpegStream{r: bufio.NewReaderSize(r, 64<<10), stopRecording: stopRecording}
	return s.decode(denom)
}

func (s *jpegStream) decode(denom int) (image.Image, error) {
	if denom != 4 && denom != 8 {
		return nil, errNotReduced
	}
	if err := s.header(); err != nil {
		return nil, err
	}
	out := 8 / denom
	for i := range s.comps {
		c := &s.comps[i]
		c.nbx, c.nby = s.mbw*c.ssX, s.mbh*c.ssY
		fw, fh := (s.width*c.ssX+s.ssxMax-1)/s.ssxMax, (s.height*c.ssY+s.ssyMax-1)/s.ssyMax
		c.bpl, c.bpc = (fw+7)/8, (fh+7)/8
		c.stride = c.nbx * out
		c.pix = make([]byte, c.stride*c.nby*out)
	}
	scanned := 0
	for {
		m, err := s.nextMarker()
		if err != nil {
			return nil, err
		}
		if m == 0xD9 {
			if scanned == 0 {
				return nil, errReducedSyntax
			}
			break
		}
		if m != 0xDA {
			if err := s.tables(m); err != nil {
				return nil, err
			}
			continue
		}
		if s.stopRecording != nil {
			s.stopRecording()
			s.stopRecording = nil
		}
		h, err := s.segment(true)
		if err != nil {
			return nil, err
		}
		if err := s.scan(h, denom); err != nil {
			return nil, err
		}
		scanned++
	}
	rect := image.Rect(0, 0, (s.width+denom-1)/denom, (s.height+denom-1)/denom)
	if len(s.comps) == 1 {
		return &image.Gray{Pix: s.comps[0].pix, Stride: s.comps[0].stride, Rect: rect}, nil
	}
	ratio, _ := ycbcrRatio(s.comps)
	return &image.YCbCr{Y: s.comps[0].pix, Cb: s.comps[1].pix, Cr: s.comps[2].pix, YStride: s.comps[0].stride, CStride: s.comps[1].stride, SubsampleRatio: ratio, Rect: rect}, nil
}

// scan decodes one baseline scan (header h) from the stream into the planes.
func (s *jpegStream) scan(h []byte, denom int) error {
	sc, err := scanComponents(h, s.comps, s.qtAvail)
	if err != nil {
		return err
	}
	for _, c := range sc {
		if !s.dc[c.dcTab].ok || !s.ac[c.acTab].ok {
			return errReducedSyntax
		}
		c.dcPred = 0
	}
	ns := len(sc)
	k := 1 + 2*ns
	if h[k] != 0 || h[k+1] != 63 || h[k+2] != 0 {
		return errReducedSyntax
	}
	b := &streamBits{r: s.r}
	out := 8 / denom
	kStore := scaleCoefficients[denom]
	block := func(c *reducedComp, by, bx int) {
		var blk [5]int32
		c.dcPred += b.block(&s.dc[c.dcTab], &s.ac[c.acTab], blk[:kStore+1])
		blk[0] = int32(c.dcPred)
		reducedIDCT(blk[:], &s.qt[c.qt], c.pix, by*out*c.stride+bx*out, c.stride, denom)
	}
	left := s.restartEvery
	tick := func() {
		if s.restartEvery == 0 {
			return
		}
		if left--; left == 0 {
			b.restart()
			for _, c := range sc {
				c.dcPred = 0
			}
			left = s.restartEvery
		}
	}
	// A stream that ends inside the scan is truncated: stop at the first row past its end
	// rather than decode the rest of a (possibly forged) frame from padding.
	if ns == 1 {
		c := sc[0]
		for by := range c.bpc {
			for bx := range c.bpl {
				block(c, by, bx)
				tick()
			}
			if b.eof {
				return io.ErrUnexpectedEOF
			}
		}
		return nil
	}
	for my := range s.mbh {
		for mx := range s.mbw {
			for _, c := range sc {
				for sy := range c.ssY {
					for sx := range c.ssX {
						block(c, my*c.ssY+sy, mx*c.ssX+sx)
					}
				}
			}
			tick()
		}
		if b.eof {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// reducedIDCT writes the 1×1 (denom 8) or 2×2 (denom 4) inverse DCT of a block's first
// coefficients (zigzag order, quantized) at pix[o:], with jpegn's dequantization and reduced
// transforms.
func reducedIDCT(blk []int32, q *[64]uint16, pix []byte, o, stride, denom int) {
	dcv := reducedDequant(blk[0], q[0])
	if denom == 8 {
		pix[o] = reducedClamp(((dcv + 4) >> 3) + 128)
		return
	}
	// zigzag 1, 2, 4 are natural 1 (0,1), 8 (1,0) and 9 (1,1).
	c01, c10, c11 := reducedDequant(blk[1], q[1]), reducedDequant(blk[2], q[8]), reducedDequant(blk[4], q[9])
	r0, r1, r2, r3 := dcv+c01, dcv-c01, c10+c11, c10-c11
	pix[o] = reducedClamp(((r0 + r2 + 4) >> 3) + 128)
	pix[o+1] = reducedClamp(((r1 + r3 + 4) >> 3) + 128)
	pix[o+stride] = reducedClamp(((r0 - r2 + 4) >> 3) + 128)
	pix[o+stride+1] = reducedClamp(((r1 - r3 + 4) >> 3) + 128)
}

// streamBits is reducedBits over a buffered stream: it never consumes a marker, so the scan's
// end is found by the marker loop that follows.
type streamBits struct {
	r      *bufio.Reader
	acc    uint64
	n      int
	marker bool
	eof    bool // the stream ended inside the scan
}

func (b *streamBits) fill() {
	// The common case: the next 8 buffered bytes hold no FF (no stuffing, no marker), so the
	// whole bytes that fit are taken at once.
	if buf, _ := b.r.Peek(min(b.r.Buffered(), 8)); len(buf) == 8 && b.n <= 56 && !b.marker {
		if v := binary.BigEndian.Uint64(buf); !hasFF(v) {
			k := (64 - b.n) / 8
			b.acc = b.acc<<(8*k) | v>>(64-8*k)
			b.n += 8 * k
			b.r.Discard(k)
			return
		}
	}
	for b.n <= 56 && !b.marker {
		buf, _ := b.r.Peek(b.r.Buffered())
		if len(buf) < 2 {
			buf, _ = b.r.Peek(2) // reads more
		}
		i := 0
		for b.n <= 56 && i < len(buf) {
			c := buf[i]
			if c == 0xFF {
				if i+1 >= len(buf) {
					break
				}
				if buf[i+1] != 0x00 { // a marker, left for the marker loop
					b.marker = true
					break
				}
				i++
			}
			i++
			b.acc = b.acc<<8 | uint64(c)
			b.n += 8
		}
		b.r.Discard(i)
		if i == 0 && !b.marker { // the end of the stream, or FF at its end
			b.marker, b.eof = true, true
		}
	}
	for b.n <= 56 { // past the end: 1 bits, as a scan's padding
		b.acc = b.acc<<8 | 0xFF
		b.n += 8
	}
}

// block decodes one baseline block (DC difference, then AC coefficients 1…63), keeping AC
// coefficient k in blk[k] while k < len(blk), and returns the DC difference. It holds the bit
// buffer in locals: a symbol and its value take at most 32 bits, so one refill check serves both.
func (b *streamBits) block(dt, at *reducedHuff, blk []int32) int {
	// acc and n stay in locals (registers) in the loop; b is synced around the rare calls.
	acc, n := b.acc, b.n
	if n < 32 {
		b.fill()
		acc, n = b.acc, b.n
	}
	var sym int
	if e := dt.look[(acc>>(n-9))&511]; e != 0 {
		n -= int(e >> 8)
		sym = int(e & 0xFF)
	} else {
		b.acc, b.n = acc, n
		sym = b.longSymbol(dt)
		b.fill()
		acc, n = b.acc, b.n
	}
	diff := 0
	if sz := min(sym, 16); sz > 0 {
		n -= sz
		diff = int(acc>>n) & (1<<sz - 1)
		if diff < 1<<(sz-1) {
			diff += (-1 << sz) + 1
		}
	}
	for k := 1; k <= 63; {
		if n < 32 {
			b.acc, b.n = acc, n
			b.fill()
			acc, n = b.acc, b.n
		}
		if f := at.acFast[(acc>>(n-9))&511]; f != 0 {
			n -= int(f & 0xFF)
			if k += int(f >> 8 & 0xFF); k > 63 {
				break // corrupt, as below
			}
			if k < len(blk) {
				blk[k] = f >> 16
			}
			k++
			continue
		}
		if e := at.look[(acc>>(n-9))&511]; e != 0 {
			n -= int(e >> 8)
			sym = int(e & 0xFF)
		} else {
			b.acc, b.n = acc, n
			sym = b.longSymbol(at)
			b.fill()
			acc, n = b.acc, b.n
		}
		r, sz := sym>>4, sym&15
		if sz == 0 {
			if r != 15 {
				break
			}
			k += 16
			continue
		}
		k += r
		if k > 63 {
			break // corrupt: the rest of the block is lost, as in jpegn
		}
		n -= sz
		if k < len(blk) {
			v := int(acc>>n) & (1<<sz - 1)
			if v < 1<<(sz-1) {
				v += (-1 << sz) + 1
			}
			blk[k] = int32(v)
		}
		k++
	}
	b.acc, b.n = acc, n
	return diff
}

func (b *streamBits) bits(n int) int {
	if b.n < n {
		b.fill()
	}
	b.n -= n
	return int(b.acc>>b.n) & (1<<n - 1)
}

func (b *streamBits) longSymbol(h *reducedHuff) int {
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | int32(b.bits(1))
		if h.maxcode[l] >= 0 && code <= h.maxcode[l] && code >= h.mincode[l] {
			i := h.valptr[l] + code - h.mincode[l]
			if i < 0 || i > 255 {
				return 0
			}
			return int(h.vals[i])
		}
	}
	return 0
}

// restart drops the bits left of an interval and skips the RSTn marker that follows it.
func (b *streamBits) restart() {
	b.acc, b.n, b.marker = 0, 0, false
	for {
		p, err := b.r.Peek(2)
		if err != nil {
			return
		}
		if p[0] == 0xFF && p[1] >= 0xD0 && p[1] <= 0xD7 {
			b.r.Discard(2)
			return
		}
		if p[0] == 0xFF && p[1] != 0x00 && p[1] != 0xFF {
			return // another marker: the scan ends early
		}
		b.r.Discard(1)
	}
}

// hasFF reports whether any byte of v is FF (a zero byte of ^v).
func hasFF(v uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := ^v
	return (x-ones)&^x&highs != 0
}
