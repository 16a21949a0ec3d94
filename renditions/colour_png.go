package renditions

import (
	"encoding/binary"
	"math"
)

// PNG gAMA and cHRM without iCCP or sRGB: the pixels are in an RGB space with those
// chromaticities (sRGB's when cHRM is absent) and a pure power-law transfer of exponent
// 1/gamma (sRGB's curve when gAMA is absent). A gAMA of 1/2.2 with sRGB chromaticities is
// taken as sRGB, as browsers take it: that is what nearly every such file means, and the
// two curves differ only in the darkest shades.

// srgbChromaticities are cHRM's eight values for sRGB (white x, y; red; green; blue), ×100000.
var srgbChromaticities = [8]uint32{31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000}

// pngGammaTransform returns the transform that gAMA/cHRM describe, or nil for sRGB.
func pngGammaTransform(c *chunkWatcher, channels int) *iccTransform {
	if c == nil || c.srgb || !c.seen || channels == 4 {
		return nil
	}
	chrm := srgbChromaticities
	if c.chrm != nil {
		for i := range chrm {
			chrm[i] = binary.BigEndian.Uint32(c.chrm[4*i:])
		}
	}
	srgbPrimaries := true
	for i := range chrm {
		if d := int64(chrm[i]) - int64(srgbChromaticities[i]); d < -1000 || d > 1000 {
			srgbPrimaries = false
		}
	}
	decode := srgbToLinear
	if c.gama != 0 {
		g := float64(c.gama) / 100000
		if g < 0.01 || g > 10 {
			return nil // meaningless
		}
		if srgbPrimaries && math.Abs(g-1/2.2) < 0.005 {
			return nil
		}
		decode = func(v float64) float64 { return math.Pow(v, 1/g) }
	} else if srgbPrimaries {
		return nil
	}
	var m [3][3]float64
	if channels == 3 {
		var ok bool
		if m, ok = rgbToSRGBMatrix(chrm); !ok {
			return nil
		}
	}
	if channels == 1 {
		t := &iccTransform{channels: 1}
		for v := range 256 {
			// A grey of luminance Y is the sRGB grey of the same Y.
			t.grey[v] = uint8(math.Round(255 * linearToSRGB(clamp01(decode(float64(v)/255)))))
		}
		return t
	}
	t := &iccTransform{channels: 3, matrix: true, enc: srgbEncode()}
	for r := range 3 {
		for c := range 3 {
			t.coef[r][c] = int64(math.Round(m[r][c] * coefOne))
		}
	}
	for v := range 256 {
		l := int64(math.Round(clamp01(decode(float64(v)/255)) * linOne))
		t.lin[0][v], t.lin[1][v], t.lin[2][v] = l, l, l
	}
	return t
}

func srgbToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func linearToSRGB(v float64) float64 {
	if v <= 0.0031308 {
		return 12.92 * v
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

// rgbToSRGBMatrix returns the matrix from linear RGB with chromaticities chrm (×100000) to
// linear sRGB, adapting the white point to D65 with the Bradford transform (relative
// colorimetric: the source white becomes sRGB white).
func rgbToSRGBMatrix(chrm [8]uint32) ([3][3]float64, bool) {
	xy := func(i int) (float64, float64) { return float64(chrm[2*i]) / 100000, float64(chrm[2*i+1]) / 100000 }
	wx, wy := xy(0)
	src, ok := primariesToXYZ(wx, wy, chrm)
	if !ok {
		return [3][3]float64{}, false
	}
	dst, _ := primariesToXYZ(0.3127, 0.3290, srgbChromaticities)
	dstInv, ok := invert3(dst)
	if !ok {
		return [3][3]float64{}, false
	}
	white := func(x, y float64) [3]float64 { return [3]float64{x / y, 1, (1 - x - y) / y} }
	adapt := bradford(white(wx, wy), white(0.3127, 0.3290))
	return mul3(dstInv, mul3(adapt, src)), true
}

// primariesToXYZ is the RGB→XYZ matrix of the primaries in chrm[2:] with white (wx, wy).
func primariesToXYZ(wx, wy float64, chrm [8]uint32) ([3][3]float64, bool) {
	var p [3][3]float64 // columns: the XYZ of each primary at Y = 1
	for i := range 3 {
		x, y := float64(chrm[2+2*i])/100000, float64(chrm[3+2*i])/100000
		if y <= 0 || wy <= 0 {
			return p, false
		}
		p[0][i], p[1][i], p[2][i] = x/y, 1, (1-x-y)/y
	}
	inv, ok := invert3(p)
	if !ok {
		return p, false
	}
	w := [3]float64{wx / wy, 1, (1 - wx - wy) / wy}
	for i := range 3 {
		s := inv[i][0]*w[0] + inv[i][1]*w[1] + inv[i][2]*w[2]
		for r := range 3 {
			p[r][i] *= s
		}
	}
	return p, true
}

// bradford returns the matrix adapting XYZ colours from white ws to white wd.
func bradford(ws, wd [3]float64) [3][3]float64 {
	b := [3][3]float64{{0.8951, 0.2664, -0.1614}, {-0.7502, 1.7135, 0.0367}, {0.0389, -0.0685, 1.0296}}
	bi, _ := invert3(b)
	var s, d [3]float64
	for i := range 3 {
		s[i] = b[i][0]*ws[0] + b[i][1]*ws[1] + b[i][2]*ws[2]
		d[i] = b[i][0]*wd[0] + b[i][1]*wd[1] + b[i][2]*wd[2]
	}
	var scale [3][3]float64
	for i := range 3 {
		scale[i][i] = d[i] / s[i]
	}
	return mul3(bi, mul3(scale, b))
}

func mul3(a, b [3][3]float64) (c [3][3]float64) {
	for i := range 3 {
		for j := range 3 {
			c[i][j] = a[i][0]*b[0][j] + a[i][1]*b[1][j] + a[i][2]*b[2][j]
		}
	}
	return c
}

func invert3(m [3][3]float64) ([3][3]float64, bool) {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	if math.Abs(det) < 1e-12 || math.IsNaN(det) {
		return [3][3]float64{}, false
	}
	var r [3][3]float64
	r[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / det
	r[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	r[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	r[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / det
	r[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	r[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	r[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / det
	r[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	r[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return r, true
}
