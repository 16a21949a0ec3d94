package renditions

// dcOnly returns a copy of a progressive JPEG with every scan that carries AC coefficients
// removed, keeping all other segments and the DC scans (first and refinement). Decoded at a
// 1/8 DCT scale a block becomes one pixel that depends on its DC coefficient alone, so the
// result is the same image for a fraction of the entropy decoding, which dominates progressive
// decode time. It returns ok=false, and the caller should use data as it is, when the stream
// does not parse as expected.
func dcOnly(data []byte) (out []byte, ok bool) { return pruneScans(data, 0) }

// pruneScans returns a copy of a progressive JPEG keeping only the scans that a decode reading
// coefficients of zigzag index ≤ maxK needs most: the DC scans (first and refinement), the AC
// first scans whose band starts at or below maxK, and the AC refinement scans of the first
// (luma) component whose whole band had its first scans kept (a refinement scan can only be
// decoded knowing which coefficients of its band are already non-zero). All other segments
// are kept.
//
// maxK 0 keeps the DC scans alone: exact at a 1/8 DCT scale. maxK 4 keeps what a 1/4 scale
// reads (zigzag 0, 1, 2, 4) at reduced precision: with libjpeg's usual scan script the luma
// refinements cover 1–63 and go with the high frequencies, and the chroma refinements
// (their lowest bit) are dropped as well, since refinement decoding is the dearest part of a
// progressive decode. The reduction that follows a 1/4 decode (at least 2×) hides the
// difference: TestSharpness measures it (SSIM ≥ 0.99 on luma, ≥ 0.98 on chroma).
// It returns ok=false when the stream does not parse as expected.
func pruneScans(data []byte, maxK int) (out []byte, ok bool) {
	// seen[c][k]: coefficient k of component c has had its first scan kept.
	var seen [256][64]bool
	luma := -1 // the first component of the frame

	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, false
	}
	out = make([]byte, 0, len(data)/4)
	out = append(out, 0xFF, 0xD8)
	pos := 2
	for {
		// Marker: 0xFF, fill bytes, code.
		if pos >= len(data) || data[pos] != 0xFF {
			return nil, false
		}
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			return nil, false
		}
		m := data[pos]
		pos++
		switch {
		case m == 0xD9:
			return append(out, 0xFF, 0xD9), true
		case m == 0x01, m >= 0xD0 && m <= 0xD7:
			out = append(out, 0xFF, m)
			continue
		}
		if pos+2 > len(data) {
			return nil, false
		}
		n := int(data[pos])<<8 | int(data[pos+1])
		if n < 2 || pos+n > len(data) {
			return nil, false
		}
		seg := data[pos : pos+n] // length + payload
		pos += n
		if m == 0xC2 && len(seg) >= 9 {
			luma = int(seg[8])
		}
		if m != 0xDA {
			out = append(out, 0xFF, m)
			out = append(out, seg...)
			continue
		}
		// SOS: components, then Ss, Se, Ah/Al.
		if len(seg) < 3 {
			return nil, false
		}
		ns := int(seg[2])
		if len(seg) < 3+2*ns+3 {
			return nil, false
		}
		ss, se, ah := int(seg[3+2*ns]), int(seg[4+2*ns]), seg[5+2*ns]>>4
		if se > 63 || ss > se {
			return nil, false
		}
		keep := ss == 0 // DC scans
		if c := seg[3]; ss > 0 && ss <= maxK && ns == 1 {
			if ah == 0 { // first scan of this band
				keep = true
				for k := ss; k <= se; k++ {
					seen[c][k] = true
				}
			} else { // refinement: every coefficient of its band must have been kept
				keep = int(c) == luma
				for k := ss; k <= se; k++ {
					keep = keep && seen[c][k]
				}
			}
		}
		// The entropy-coded data runs to the next marker other than RSTn (FF 00 is a stuffed byte).
		end := pos
		for end+1 < len(data) {
			if data[end] == 0xFF && data[end+1] != 0x00 && (data[end+1] < 0xD0 || data[end+1] > 0xD7) {
				if data[end+1] == 0xFF { // fill byte before a marker
					end++
					continue
				}
				break
			}
			end++
		}
		if end+1 >= len(data) {
			return nil, false
		}
		if keep {
			out = append(out, 0xFF, m)
			out = append(out, seg...)
			out = append(out, data[pos:end]...)
		}
		pos = end
	}
}
