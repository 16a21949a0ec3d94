package renditions

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"math"
	"sync"

	"github.com/kovidgoyal/imaging/prism/meta/icc"
)

// The ICC maths (profile parsing; matrix/TRC, mft1/mft2 and mAB/mBA pipelines; Lab/XYZ PCS;
// black point detection and compensation as lcms2 does it) is github.com/kovidgoyal/imaging's
// pure-Go prism/meta/icc package, whose transforms are tested there against lcms2. It is
// evaluated in float64 at about a microsecond a colour, too slow per pixel, so an
// iccTransform samples it once per profile:
//
//   - matrix/TRC RGB profiles (Adobe RGB, ProPhoto, Display P3, …; also PNG gAMA/cHRM):
//     exactly, as lcms2's matrix-shaper path does — each curve at the 256 input values, one
//     fixed-point 3×3 matrix to linear sRGB, a table of the sRGB curve;
//   - LUT-based RGB profiles: a 33×33×33 grid (lcms2's own choice for 8-bit RGB), tetrahedral
//     interpolation;
//   - CMYK profiles: a 17⁴ grid, tetrahedral in C, M, Y and linear in K;
//   - grey profiles: a 256-entry table.
//
// Rendering intent: perceptual where the profile has a perceptual table (A2B0), which LUT
// profiles — CMYK ones above all — carry; matrix/TRC profiles have none, and for them it is
// relative colorimetric (the same thing there). Black point compensation is on, as libvips
// and Photoshop use it for CMYK; it changes nothing for matrix/TRC profiles, whose black is
// zero. Colours outside sRGB are clipped per channel, as lcms2 does.

const (
	grid3 = 33 // RGB grid points per axis
	grid4 = 17 // CMYK grid points per axis
)

// iccTransform converts 8-bit pixels of one colour space to 8-bit sRGB.
type iccTransform struct {
	channels int // 1 grey, 3 RGB, 4 CMYK

	n     int      // grid points per axis (3 and 4 channels)
	tab   []uint16 // grid outputs, RGB triples scaled to 0–65535, index ((k*n+c)*n+m)*n+y
	index [256]uint16
	frac  [256]int32 // 0–256: where an 8-bit input falls between two grid points

	grey [256]uint8 // 1 channel: grey in → grey out

	// A matrix/TRC profile is converted exactly rather than through the grid: per-channel
	// linearisation, one 3×3 matrix to linear sRGB, the sRGB curve.
	matrix bool
	lin    [3][256]int64 // linear light, 0–linOne
	coef   [3][3]int64   // ×coefOne
	enc    *[encSize]uint8
}

const (
	linOne  = 1 << 16
	coefOne = 1 << 14
	encBits = 14 // linear sRGB is looked up on 2^14 steps
	encSize = 1 << encBits
)

// srgbEncode maps linear sRGB in encSize steps to 8-bit sRGB.
var srgbEncode = sync.OnceValue(func() *[encSize]uint8 {
	var e [encSize]uint8
	for i := range e {
		e[i] = uint8(math.Round(255 * linearToSRGB(float64(i)/(encSize-1))))
	}
	return &e
})

// gridAxis fills the per-input-value index and weight tables for n grid points.
func (t *iccTransform) gridAxis(n int) {
	t.n = n
	for v := range 256 {
		p := v * (n - 1) * 256 / 255 // position on the grid in 1/256 steps
		i := min(p>>8, n-2)
		t.index[v] = uint16(i)
		t.frac[v] = int32(p - i*256)
	}
}

// newSampledTransform builds a transform for channels 3 or 4 by sampling f, which maps inputs
// in 0–1 to sRGB in 0–1, on the grid. f gets 4-element slices and may overwrite in.
func newSampledTransform(channels int, f func(out, in []float64)) *iccTransform {
	t := &iccTransform{channels: channels}
	n := grid3
	if channels == 4 {
		n = grid4
	}
	t.gridAxis(n)
	points := n * n * n
	if channels == 4 {
		points *= n
	}
	t.tab = make([]uint16, 3*points)
	// The pipeline works in place: out holds as many channels as in, and in is overwritten.
	in, out := make([]float64, 4), make([]float64, 4)
	step := 1 / float64(n-1)
	for i := range points {
		// i = ((k*n+a)*n+b)*n+c: the last input varies fastest.
		rem := i
		for ch := channels - 1; ch >= 0; ch-- {
			in[ch] = float64(rem%n) * step
			rem /= n
		}
		if channels == 4 { // index order is K-major; inputs are C, M, Y, K
			in[0], in[1], in[2], in[3] = in[1], in[2], in[3], in[0]
		}
		f(out, in)
		for ch := range 3 {
			t.tab[3*i+ch] = uint16(math.Round(65535 * clamp01(out[ch])))
		}
	}
	return t
}

func clamp01(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	}
	return 0 // also NaN
}

// rgb converts one RGB colour.
func (t *iccTransform) rgb(r, g, b uint8) (uint8, uint8, uint8) {
	if t.matrix {
		lr, lg, lb := t.lin[0][r], t.lin[1][g], t.lin[2][b]
		var o [3]uint8
		for i := range 3 {
			v := (t.coef[i][0]*lr + t.coef[i][1]*lg + t.coef[i][2]*lb) >> (14 + 16 - encBits)
			o[i] = t.enc[min(max(v, 0), encSize-1)]
		}
		return o[0], o[1], o[2]
	}
	var out [3]int32
	t.interp3(0, r, g, b, &out)
	return to8(out[0]), to8(out[1]), to8(out[2])
}

func to8(v int32) uint8 { return uint8((v*255 + 32767) / 65535) }

// interp3 interpolates the 3D grid starting at table offset base (a K slice for CMYK)
// tetrahedrally at r, g, b, writing 0–65535 values.
func (t *iccTransform) interp3(base int, r, g, b uint8, out *[3]int32) {
	n := t.n
	x0, y0, z0 := int(t.index[r]), int(t.index[g]), int(t.index[b])
	fx, fy, fz := t.frac[r], t.frac[g], t.frac[b]
	sx, sy, sz := 3*n*n, 3*n, 3
	c0 := base + x0*sx + y0*sy + z0*sz
	tab := t.tab
	// The six tetrahedra of the cube, chosen by the order of the fractions.
	var d1, d2, d3 int // offsets of the corners reached after the largest, second, third step
	var w1, w2, w3 int32
	switch {
	case fx >= fy && fy >= fz:
		d1, d2, d3, w1, w2, w3 = sx, sx+sy, sx+sy+sz, fx, fy, fz
	case fx >= fz && fz >= fy:
		d1, d2, d3, w1, w2, w3 = sx, sx+sz, sx+sy+sz, fx, fz, fy
	case fz >= fx && fx >= fy:
		d1, d2, d3, w1, w2, w3 = sz, sz+sx, sx+sy+sz, fz, fx, fy
	case fy >= fx && fx >= fz:
		d1, d2, d3, w1, w2, w3 = sy, sy+sx, sx+sy+sz, fy, fx, fz
	case fy >= fz && fz >= fx:
		d1, d2, d3, w1, w2, w3 = sy, sy+sz, sx+sy+sz, fy, fz, fx
	default: // fz >= fy >= fx
		d1, d2, d3, w1, w2, w3 = sz, sz+sy, sx+sy+sz, fz, fy, fx
	}
	for ch := range 3 {
		v0 := int32(tab[c0+ch])
		v1 := int32(tab[c0+d1+ch])
		v2 := int32(tab[c0+d2+ch])
		v3 := int32(tab[c0+d3+ch])
		out[ch] = v0 + ((v1-v0)*w1+(v2-v1)*w2+(v3-v2)*w3+128)>>8
	}
}

// interp4 interpolates the 4D grid at c, m, y, k: tetrahedrally in the two CMY cubes either
// side of k (the tetrahedron is the same in both), then linearly between them.
func (t *iccTransform) interp4(slice int, c, m, y, k uint8, out *[3]int32) {
	k0, fk := int(t.index[k]), t.frac[k]
	if fk == 0 {
		t.interp3(k0*slice, c, m, y, out)
		return
	}
	n := t.n
	x0, y0, z0 := int(t.index[c]), int(t.index[m]), int(t.index[y])
	fx, fy, fz := t.frac[c], t.frac[m], t.frac[y]
	sx, sy, sz := 3*n*n, 3*n, 3
	c0 := k0*slice + x0*sx + y0*sy + z0*sz
	c1 := c0 + slice
	var d1, d2, d3 int
	var w1, w2, w3 int32
	switch {
	case fx >= fy && fy >= fz:
		d1, d2, d3, w1, w2, w3 = sx, sx+sy, sx+sy+sz, fx, fy, fz
	case fx >= fz && fz >= fy:
		d1, d2, d3, w1, w2, w3 = sx, sx+sz, sx+sy+sz, fx, fz, fy
	case fz >= fx && fx >= fy:
		d1, d2, d3, w1, w2, w3 = sz, sz+sx, sx+sy+sz, fz, fx, fy
	case fy >= fx && fx >= fz:
		d1, d2, d3, w1, w2, w3 = sy, sy+sx, sx+sy+sz, fy, fx, fz
	case fy >= fz && fz >= fx:
		d1, d2, d3, w1, w2, w3 = sy, sy+sz, sx+sy+sz, fy, fz, fx
	default:
		d1, d2, d3, w1, w2, w3 = sz, sz+sy, sx+sy+sz, fz, fy, fx
	}
	tab := t.tab
	for ch := range 3 {
		a0, a1, a2, a3 := int32(tab[c0+ch]), int32(tab[c0+d1+ch]), int32(tab[c0+d2+ch]), int32(tab[c0+d3+ch])
		b0, b1, b2, b3 := int32(tab[c1+ch]), int32(tab[c1+d1+ch]), int32(tab[c1+d2+ch]), int32(tab[c1+d3+ch])
		lo := a0 + ((a1-a0)*w1+(a2-a1)*w2+(a3-a2)*w3+128)>>8
		hi := b0 + ((b1-b0)*w1+(b2-b1)*w2+(b3-b2)*w3+128)>>8
		out[ch] = lo + ((hi-lo)*fk+128)>>8
	}
}

// apply converts an RGB or grey image (any type; paletted images by their palette) to sRGB.
func (t *iccTransform) apply(img image.Image) image.Image {
	if t.channels == 1 {
		switch g := img.(type) {
		case *image.Gray:
			b := g.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				row := g.Pix[g.PixOffset(b.Min.X, y):][:b.Dx()]
				for i, v := range row {
					row[i] = t.grey[v]
				}
			}
			return g
		case *image.Gray16:
			return t.apply(toGray(g))
		}
		// A grey source that became colour (resized to NRGBA): every pixel is grey.
		n := toNRGBA(img)
		t.eachPixel(n.Pix, n.Stride, n.Bounds(), func(p []uint8) {
			v := t.grey[p[1]]
			p[0], p[1], p[2] = v, v, v
		})
		return n
	}
	if p, ok := img.(*image.Paletted); ok {
		p.Palette = paletteToSRGB(p.Palette, t)
		return p
	}
	if r, ok := img.(*image.RGBA); ok { // a JPEG that was not resized: convert in place
		t.eachRGBA(r)
		return r
	}
	n := toNRGBA(img)
	b := n.Bounds()
	for y := 0; y < b.Dy(); y++ {
		t.row(n.Pix[y*n.Stride:][:4*b.Dx()])
	}
	return n
}

// row converts a row of straight-alpha 4-byte pixels in place.
func (t *iccTransform) row(row []uint8) {
	if !t.matrix {
		for i := 0; i+4 <= len(row); i += 4 {
			p := row[i : i+4 : i+4]
			p[0], p[1], p[2] = t.rgb(p[0], p[1], p[2])
		}
		return
	}
	// The matrix case, with everything it needs in locals: this is the loop a tagged
	// rendition spends its colour time in.
	c := t.coef
	lr, lg, lb, enc := &t.lin[0], &t.lin[1], &t.lin[2], t.enc
	const shift = 14 + 16 - encBits
	for i := 0; i+4 <= len(row); i += 4 {
		p := row[i : i+4 : i+4]
		r, g, b := lr[p[0]], lg[p[1]], lb[p[2]]
		p[0] = enc[min(max((c[0][0]*r+c[0][1]*g+c[0][2]*b)>>shift, 0), encSize-1)]
		p[1] = enc[min(max((c[1][0]*r+c[1][1]*g+c[1][2]*b)>>shift, 0), encSize-1)]
		p[2] = enc[min(max((c[2][0]*r+c[2][1]*g+c[2][2]*b)>>shift, 0), encSize-1)]
	}
}

// eachRGBA converts a premultiplied image in place, un-premultiplying the rare translucent
// pixels around the conversion.
func (t *iccTransform) eachRGBA(r *image.RGBA) {
	b := r.Bounds()
	for y := 0; y < b.Dy(); y++ {
		row := r.Pix[y*r.Stride:][:4*b.Dx()]
		opaque := true
		for i := 3; i < len(row); i += 4 {
			if row[i] != 255 {
				opaque = false
				break
			}
		}
		if opaque { // every JPEG: premultiplied and straight are the same
			t.row(row)
			continue
		}
		for i := 0; i+4 <= len(row); i += 4 {
			p := row[i : i+4 : i+4]
			switch a := int32(p[3]); a {
			case 255:
				p[0], p[1], p[2] = t.rgb(p[0], p[1], p[2])
			case 0:
			default:
				un := func(v uint8) uint8 { return uint8(min(int32(v)*255/a, 255)) }
				cr, cg, cb := t.rgb(un(p[0]), un(p[1]), un(p[2]))
				pre := func(v uint8) uint8 { return uint8((int32(v)*a + 127) / 255) }
				p[0], p[1], p[2] = pre(cr), pre(cg), pre(cb)
			}
		}
	}
}

// eachPixel calls f with each 4-byte pixel of b in pix (laid out with stride, as image.NRGBA
// and image.RGBA are).
func (t *iccTransform) eachPixel(pix []uint8, stride int, b image.Rectangle, f func(p []uint8)) {
	for y := 0; y < b.Dy(); y++ {
		row := pix[y*stride:][:4*b.Dx()]
		for i := 0; i+4 <= len(row); i += 4 {
			f(row[i : i+4 : i+4])
		}
	}
}

// applyCMYK converts a CMYK image (0 = no ink, as image.CMYK holds it) to opaque sRGB, in
// place: the result shares img's pixel memory, which the caller must no longer use as CMYK.
func (t *iccTransform) applyCMYK(img *image.CMYK) *image.NRGBA {
	b := img.Bounds()
	slice := 3 * t.n * t.n * t.n
	for y := 0; y < b.Dy(); y++ {
		row := img.Pix[y*img.Stride:][:4*b.Dx()]
		for i := 0; i+4 <= len(row); i += 4 {
			p := row[i : i+4 : i+4]
			var lo [3]int32
			t.interp4(slice, p[0], p[1], p[2], p[3], &lo)
			p[0], p[1], p[2], p[3] = to8(lo[0]), to8(lo[1]), to8(lo[2]), 255
		}
	}
	return &image.NRGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
}

// Transforms are cached by profile: a site's images come from a handful of cameras and
// exports, and building a grid costs up to a couple of hundred milliseconds (CMYK). An entry
// holds at most about 0.5 MB (a 17⁴ grid).
const maxCachedTransforms = 16

type cacheKey struct {
	profile  [sha256.Size]byte // of the profile bytes: a key must not pin up to 8 MiB
	channels int
}

type cacheEntry struct {
	once sync.Once
	t    *iccTransform // nil: sRGB, or a profile that is ignored
}

var (
	transformsMu sync.Mutex
	transforms   = map[cacheKey]*cacheEntry{}
)

// cachedICCTransform returns the transform from the ICC profile to sRGB for an image of that
// many channels, or nil when the profile is sRGB or is ignored.
func cachedICCTransform(profile []byte, channels int) *iccTransform {
	key := cacheKey{sha256.Sum256(profile), channels}
	transformsMu.Lock()
	e, ok := transforms[key]
	if !ok {
		if len(transforms) >= maxCachedTransforms {
			for k := range transforms { // evict one at random
				delete(transforms, k)
				break
			}
		}
		e = &cacheEntry{}
		transforms[key] = e
	}
	transformsMu.Unlock()
	e.once.Do(func() { e.t = newICCTransform(profile, channels) })
	return e.t
}

// newICCTransform builds the transform, or returns nil for an sRGB profile or one that is
// ignored (unparseable, unsupported colour space, or not matching the image's channels).
func newICCTransform(profile []byte, channels int) (t *iccTransform) {
	defer func() {
		if recover() != nil { // a hostile or broken profile the parser did not expect
			t = nil
		}
	}()
	if isCompactSRGB(profile) {
		return nil
	}
	p, err := icc.DecodeProfile(bytes.NewReader(profile))
	if err != nil {
		return nil
	}
	want := map[int]icc.ColorSpace{1: icc.ColorSpaceGray, 3: icc.ColorSpaceRGB, 4: icc.ColorSpaceCMYK}[channels]
	if p.Header.DataColorSpace != want {
		return nil
	}
	if channels == 3 && p.IsSRGB() {
		return nil
	}
	intent := icc.PerceptualRenderingIntent
	if !p.TagTable.Has(icc.AToB0TagSignature) {
		intent = icc.RelativeColorimetricRenderingIntent
	}
	if channels == 3 && p.IsMatrixShaper() && p.Header.ProfileConnectionSpace == icc.ColorSpaceXYZ {
		if t := matrixShaperTransform(p); t != nil {
			return t
		}
	}
	pipe, err := p.CreateTransformerToSRGB(intent, true, channels, true, false, true)
	if err != nil {
		return nil
	}
	if channels == 1 {
		t = &iccTransform{channels: 1}
		in, out := make([]float64, 4), make([]float64, 4)
		for v := range 256 {
			in[0], in[1], in[2], in[3] = float64(v)/255, 0, 0, 0
			pipe.TransformGeneral(out, in)
			t.grey[v] = uint8(math.Round(255 * clamp01(out[1])))
		}
		return t
	}
	return newSampledTransform(channels, pipe.TransformGeneral)
}

// isCompactSRGB recognises the sRGB profiles embedded by most cameras, phones and exporters
// by their description, so that the common case skips parsing. Anything else is parsed, and
// an sRGB profile not recognised here is found to be sRGB by its primaries and curves.
func isCompactSRGB(profile []byte) bool {
	if len(profile) < 132 || len(profile) > 64<<10 || string(profile[16:20]) != "RGB " {
		return false
	}
	n := int(binary.BigEndian.Uint32(profile[128:]))
	for i := range min(n, 64) {
		e := 132 + 12*i
		if e+12 > len(profile) {
			return false
		}
		if string(profile[e:e+4]) != "desc" {
			continue
		}
		off, size := int(binary.BigEndian.Uint32(profile[e+4:])), int(binary.BigEndian.Uint32(profile[e+8:]))
		if off < 0 || size < 0 || off+size > len(profile) || off+size < off {
			return false
		}
		d := profile[off : off+size]
		return bytes.Contains(d, []byte("sRGB IEC61966-2.1")) || bytes.Contains(d, []byte("sRGB IEC61966-2-1"))
	}
	return false
}

func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.Set(x, y, img.At(x, y))
		}
	}
	return g
}

// srgbD50 is sRGB's RGB→XYZ matrix with its primaries Bradford-adapted to the D50 PCS, as
// lcms2's built-in sRGB profile has it.
var srgbD50 = [3][3]float64{
	{0.4360747, 0.3850649, 0.1430804},
	{0.2225045, 0.7168786, 0.0606169},
	{0.0139322, 0.0971045, 0.7141733},
}

// matrixShaperTransform builds the exact transform of a matrix/TRC RGB profile: its curves
// sampled at the 256 input values, and its colorant matrix followed by sRGB's inverse, both
// read from the profile's own pipeline to the (XYZ) PCS. It returns nil, and the caller uses
// the grid, if that pipeline does not turn out separable.
func matrixShaperTransform(p *icc.Profile) *iccTransform {
	pipe, err := p.CreateTransformerToPCS(icc.RelativeColorimetricRenderingIntent, 3, true)
	if err != nil {
		return nil
	}
	in, out := make([]float64, 4), make([]float64, 4)
	eval := func(v [3]float64) [3]float64 {
		in[0], in[1], in[2], in[3] = v[0], v[1], v[2], 0
		pipe.TransformGeneral(out, in)
		return [3]float64{out[0], out[1], out[2]}
	}
	dot := func(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
	var cols [3][3]float64 // XYZ of each full primary
	var m [3][3]float64
	for c := range 3 {
		var v [3]float64
		v[c] = 1
		cols[c] = eval(v)
		for r := range 3 {
			m[r][c] = cols[c][r]
		}
	}
	trc := func(c int, x float64) float64 { // the channel's curve, from the pipeline
		var v [3]float64
		v[c] = x
		n := dot(cols[c], cols[c])
		if n == 0 {
			return 0
		}
		return dot(eval(v), cols[c]) / n
	}
	// Separable means XYZ(r,g,b) = Σ trc_c(v_c)·col_c; check a few colours.
	for _, v := range [][3]float64{{0.2, 0.5, 0.8}, {0.9, 0.1, 0.4}, {0.5, 0.5, 0.5}, {0.05, 0.95, 0.3}, {1, 1, 1}} {
		got := eval(v)
		for r := range 3 {
			want := m[r][0]*trc(0, v[0]) + m[r][1]*trc(1, v[1]) + m[r][2]*trc(2, v[2])
			if math.Abs(got[r]-want) > 1e-4 || math.IsNaN(got[r]) {
				return nil
			}
		}
	}
	inv, ok := invert3(srgbD50)
	if !ok {
		return nil
	}
	total := mul3(inv, m)
	t := &iccTransform{channels: 3, matrix: true, enc: srgbEncode()}
	for r := range 3 {
		for c := range 3 {
			if math.Abs(total[r][c]) > 1000 || math.IsNaN(total[r][c]) {
				return nil
			}
			t.coef[r][c] = int64(math.Round(total[r][c] * coefOne))
		}
	}
	for c := range 3 {
		for v := range 256 {
			t.lin[c][v] = int64(math.Round(clamp01(trc(c, float64(v)/255)) * linOne))
		}
	}
	return t
}
