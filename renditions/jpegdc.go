package renditions

// dcOnly returns a copy of a progressive JPEG with every scan that carries AC coefficients
// removed, keeping all other segments and the DC scans (first and refinement). Decoded at a
// 1/8 DCT scale a block becomes one pixel that depends on its DC coefficient alone, so the
// result is the same image for a fraction of the entropy decoding, which dominates progressive
// decode time. It returns ok=false, and the caller should use data as it is, when the stream
// does not parse as expected.
func dcOnly(data []byte) (out []byte, ok bool) {
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
		ss := seg[3+2*ns]
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
		if ss == 0 {
			out = append(out, 0xFF, m)
			out = append(out, seg...)
			out = append(out, data[pos:end]...)
		}
		pos = end
	}
}
