package renditions

import (
	"image"
	"image/color"
	"math"
	"runtime"
	"sync"
)

// resample resizes the area win of src to w×h with a separable Lanczos3 filter, the filter
// libvips reduces with. win is in src's pixel coordinates (src.Bounds().Min is its origin) and
// need not fall on whole pixels: a crop box mapped into a DCT-scaled decode keeps its exact
// position, so the result is not shifted. Output sample i is centred on
// win.l + (i+0.5)·scale − 0.5; when shrinking, the filter is widened by the scale factor. Taps
// that fall outside win read the pixels around it, and outside src its edge pixels, so the
// result is what a reduction of the whole image would show there. A reduce of more than 4× first
// averages blocks of pixels (see boxFactor), as libvips's resize does.
//
// Pixels are filtered premultiplied by alpha in 8-bit gamma-encoded values with 14-bit
// fixed-point weights; the horizontal pass keeps an 8-bit intermediate (as libvips does). The
// work is split across GOMAXPROCS goroutines, all done when resample returns.
func resample(src image.Image, win box, w, h int) *image.NRGBA {
	b := src.Bounds()
	switch s := src.(type) {
	case *image.YCbCr:
		if b.Min == (image.Point{}) && planesFit(s) {
			return resampleYCbCr(s, win, w, h)
		}
	case *image.Gray:
		if b.Min == (image.Point{}) {
			g := resamplePlane(s.Pix, s.Stride, b.Dx(), b.Dy(), win, w, h)
			dst := image.NewNRGBA(image.Rect(0, 0, w, h))
			for i, v := range g {
				dst.Pix[4*i], dst.Pix[4*i+1], dst.Pix[4*i+2], dst.Pix[4*i+3] = v, v, v, 255
			}
			return dst
		}
	}
	ax, ay := newAxis(win.l, win.w(), w, b.Dx()), newAxis(win.t, win.h(), h, b.Dy())
	xs, ys := ax.ws, ay.ws
	x0, x1 := ax.src()

	// Horizontal pass over the (box-averaged) rows the vertical pass reads: ys.lo ≤ y < ys.hi.
	mid := make([]uint8, (ys.hi-ys.lo)*w*4)
	parallel(ys.hi-ys.lo, func(lo, hi int) {
		row := make([]uint8, (x1-x0)*4)
		if ax.k == 1 && ay.k == 1 {
			for y := lo; y < hi; y++ {
				readRow(src, b.Min.X+x0, b.Min.X+x1, b.Min.Y+ys.lo+y, row)
				reduceRow(row, xs, mid[y*w*4:(y+1)*w*4])
			}
			return
		}
		bx, blocks := newRowBox(ax, 4), make([]uint8, (xs.hi-xs.lo)*4)
		for y := lo; y < hi; y++ {
			r0, r1 := ay.rows(ys.lo + y)
			for r := r0; r < r1; r++ {
				readRow(src, b.Min.X+x0, b.Min.X+x1, b.Min.Y+r, row)
				bx.add(row)
			}
			bx.take(blocks)
			reduceRow(blocks, xs, mid[y*w*4:(y+1)*w*4])
		}
	})
	return reduceColumns(mid, ys, w, h)
}

// reduceRow is the horizontal pass of resample for one row: row holds source pixels xs.lo ≤ x <
// xs.hi, premultiplied RGBA, and out receives the len(out)/4 premultiplied output pixels.
func reduceRow(row []uint8, xs weights, out []uint8) {
	for i := 0; i < len(out)/4; i++ {
		var r, g, bl, a int32
		first, wts := xs.first[i]-xs.lo, xs.w[xs.off[i]:xs.off[i+1]]
		p := row[first*4 : (first+len(wts))*4]
		for k, wt := range wts {
			q := p[k*4 : k*4+4 : k*4+4]
			r += wt * int32(q[0])
			g += wt * int32(q[1])
			bl += wt * int32(q[2])
			a += wt * int32(q[3])
		}
		putPremul(out[i*4:i*4+4:i*4+4], r, g, bl, a)
	}
}

// reduceColumns is the vertical pass of resample: mid holds rows ys.lo ≤ y < ys.hi of the
// horizontal pass (w premultiplied pixels each), the result is w×h straight-alpha NRGBA.
func reduceColumns(mid []uint8, ys weights, w, h int) *image.NRGBA {
	y0 := ys.lo
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	parallel(h, func(lo, hi int) {
		stride := w * 4
		for j := lo; j < hi; j++ {
			first, wts := ys.first[j]-y0, ys.w[ys.off[j]:ys.off[j+1]]
			out := dst.Pix[j*dst.Stride : j*dst.Stride+stride]
			for x := 0; x < stride; x += 4 {
				var r, g, bl, a int32
				for k, wt := range wts {
					q := mid[(first+k)*stride+x:]
					r += wt * int32(q[0])
					g += wt * int32(q[1])
					bl += wt * int32(q[2])
					a += wt * int32(q[3])
				}
				putStraight(out[x:x+4:x+4], r, g, bl, a)
			}
		}
	})
	return dst
}

// resampleYCbCr resamples each plane of a JPEG decode on its own, chroma from its own sample
// grid (a chroma sample of a 4:2:0 image covers 2×2 luma pixels), and converts to RGB only at
// the output size: the conversion is affine, so this equals converting first (but for
// clamping), with chroma upsampled by the Lanczos filter rather than repeated, for a third of
// the arithmetic of filtering RGBA.
func resampleYCbCr(src *image.YCbCr, win box, w, h int) *image.NRGBA {
	b := src.Bounds()
	cx, cy := 1, 1
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		cx = 2
	case image.YCbCrSubsampleRatio420:
		cx, cy = 2, 2
	case image.YCbCrSubsampleRatio440:
		cy = 2
	case image.YCbCrSubsampleRatio411:
		cx = 4
	case image.YCbCrSubsampleRatio410:
		cx, cy = 4, 2
	}
	cw, ch := (b.Dx()+cx-1)/cx, (b.Dy()+cy-1)/cy
	cwin := box{win.l / float64(cx), win.t / float64(cy), win.r / float64(cx), win.b / float64(cy)}
	var yp, cbp, crp []uint8
	var wg sync.WaitGroup
	wg.Go(func() { cbp = resamplePlane(src.Cb, src.CStride, cw, ch, cwin, w, h) })
	wg.Go(func() { crp = resamplePlane(src.Cr, src.CStride, cw, ch, cwin, w, h) })
	yp = resamplePlane(src.Y, src.YStride, b.Dx(), b.Dy(), win, w, h)
	wg.Wait()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range yp {
		r, g, bl := color.YCbCrToRGB(yp[i], cbp[i], crp[i])
		p := dst.Pix[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = r, g, bl, 255
	}
	return dst
}

// planesFit reports whether src's planes hold the samples resampleYCbCr reads.
func planesFit(src *image.YCbCr) bool {
	b := src.Bounds()
	c := src.COffset(b.Max.X-1, b.Max.Y-1)
	return src.YOffset(b.Max.X-1, b.Max.Y-1) < len(src.Y) && c < len(src.Cb) && c < len(src.Cr)
}

// resamplePlane is resample for one 8-bit plane of pw×ph samples (stride apart), returning
// the w×h result packed.
func resamplePlane(pix []uint8, stride, pw, ph int, win box, w, h int) []uint8 {
	ax, ay := newAxis(win.l, win.w(), w, pw), newAxis(win.t, win.h(), h, ph)
	xs, ys := ax.ws, ay.ws
	x0, x1 := ax.src()
	y0, y1 := ys.lo, ys.hi
	mid := make([]uint8, (y1-y0)*w)
	parallel(y1-y0, func(lo, hi int) {
		var (
			bx     *rowBox
			blocks []uint8 // indexed like a source row: block i at blocks[i]
		)
		if ax.k > 1 || ay.k > 1 {
			bx, blocks = newRowBox(ax, 1), make([]uint8, xs.hi)
		}
		for y := lo; y < hi; y++ {
			row := pix[(y0+y)*stride : (y0+y)*stride+pw]
			if bx != nil {
				r0, r1 := ay.rows(y0 + y)
				for r := r0; r < r1; r++ {
					bx.add(pix[r*stride+x0 : r*stride+x1])
				}
				bx.take(blocks[xs.lo:])
				row = blocks
			}
			out := mid[y*w : (y+1)*w]
			for i := range out {
				wts := xs.w[xs.off[i]:xs.off[i+1]]
				p := row[xs.first[i] : xs.first[i]+len(wts)]
				var v int32
				for k, wt := range wts {
					v += wt * int32(p[k])
				}
				out[i] = clampChannel(v, 255)
			}
		}
	})
	out := make([]uint8, w*h)
	parallel(h, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			first, wts := ys.first[j]-y0, ys.w[ys.off[j]:ys.off[j+1]]
			o := out[j*w : (j+1)*w]
			for x := range o {
				var v int32
				for k, wt := range wts {
					v += wt * int32(mid[(first+k)*w+x])
				}
				o[x] = clampChannel(v, 255)
			}
		}
	})
	return out
}

// weightBits is the fixed-point precision of filter weights: a weight of 1 is 1<<weightBits.
const weightBits = 14

// weights are the filter taps of one axis: output sample i reads source pixels first[i],
// first[i]+1, … (relative to the source's bounds) with w[off[i]:off[i+1]]. Every tap lies in
// [lo, hi).
type weights struct {
	first  []int
	off    []int
	w      []int32
	lo, hi int
}

// lanczosWeights computes the Lanczos3 taps of n output samples spaced scale source pixels
// apart, the first centred on origin + scale/2 − 0.5, over a source axis of size pixels. Taps
// past either edge are folded onto the edge pixel.
func lanczosWeights(origin, scale float64, n, size int) weights {
	s := math.Max(scale, 1) // widen the filter when shrinking
	support := 3 * s
	ws := weights{first: make([]int, n), off: make([]int, n+1), lo: size, hi: 0}
	fw := make([]float64, 0, int(2*support)+3)
	for i := 0; i < n; i++ {
		centre := origin + (float64(i)+0.5)*scale - 0.5
		j0 := int(math.Ceil(centre - support))
		j1 := int(math.Floor(centre + support))
		lo, hi := min(max(j0, 0), size-1), min(max(j1, 0), size-1)
		fw = fw[:hi-lo+1]
		clear(fw)
		var sum float64
		for j := j0; j <= j1; j++ {
			x := (float64(j) - centre) / s
			if x <= -3 || x >= 3 {
				continue
			}
			wt := sinc(x) * sinc(x/3)
			fw[min(max(j, 0), size-1)-lo] += wt
			sum += wt
		}
		// Fixed point, with the rounding error put on the largest tap so they sum to exactly 1.
		var isum int32
		big := 0
		for k, v := range fw {
			q := int32(math.Round(v / sum * (1 << weightBits)))
			ws.w = append(ws.w, q)
			isum += q
			if math.Abs(v) > math.Abs(fw[big]) {
				big = k
			}
		}
		ws.w[ws.off[i]+big] += 1<<weightBits - isum
		ws.first[i] = lo
		ws.off[i+1] = len(ws.w)
		ws.lo, ws.hi = min(ws.lo, lo), max(ws.hi, hi+1)
	}
	return ws
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// clampChannel turns a fixed-point sum into 0…max.
func clampChannel(v, hi int32) uint8 {
	v = (v + 1<<(weightBits-1)) >> weightBits
	if v < 0 {
		return 0
	}
	if v > hi {
		return uint8(hi)
	}
	return uint8(v)
}

// putPremul stores a premultiplied pixel: colour never above alpha.
func putPremul(p []uint8, r, g, b, a int32) {
	av := clampChannel(a, 255)
	p[0], p[1], p[2], p[3] = clampChannel(r, int32(av)), clampChannel(g, int32(av)), clampChannel(b, int32(av)), av
}

// putStraight stores a premultiplied sum as a straight-alpha (NRGBA) pixel.
func putStraight(p []uint8, r, g, b, a int32) {
	av := clampChannel(a, 255)
	switch av {
	case 255:
		p[0], p[1], p[2] = clampChannel(r, 255), clampChannel(g, 255), clampChannel(b, 255)
	case 0:
		p[0], p[1], p[2] = 0, 0, 0
	default:
		// Unpremultiply from the fixed-point sums for precision.
		un := func(c int32) uint8 {
			v := (int64(c)*255 + int64(a)/2) / int64(a)
			return uint8(min(max(v, 0), 255))
		}
		p[0], p[1], p[2] = un(r), un(g), un(b)
	}
	p[3] = av
}

// readRow writes row y of src, pixels x0 ≤ x < x1, premultiplied RGBA, into dst.
func readRow(src image.Image, x0, x1, y int, dst []uint8) {
	switch s := src.(type) {
	case *image.YCbCr:
		yi := s.YOffset(x0, y) - x0
		for x := x0; x < x1; x++ {
			ci := s.COffset(x, y)
			r, g, b := color.YCbCrToRGB(s.Y[yi+x], s.Cb[ci], s.Cr[ci])
			d := dst[(x-x0)*4 : (x-x0)*4+4 : (x-x0)*4+4]
			d[0], d[1], d[2], d[3] = r, g, b, 255
		}
	case *image.RGBA:
		copy(dst, s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)])
	case *image.NRGBA:
		p := s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)]
		for i := 0; i < len(p); i += 4 {
			a := uint32(p[i+3])
			d := dst[i : i+4 : i+4]
			switch a {
			case 255:
				copy(d, p[i:i+4])
			case 0:
				d[0], d[1], d[2], d[3] = 0, 0, 0, 0
			default:
				d[0] = uint8((uint32(p[i])*a + 127) / 255)
				d[1] = uint8((uint32(p[i+1])*a + 127) / 255)
				d[2] = uint8((uint32(p[i+2])*a + 127) / 255)
				d[3] = uint8(a)
			}
		}
	case *image.Gray:
		p := s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)]
		for i, v := range p {
			d := dst[i*4 : i*4+4 : i*4+4]
			d[0], d[1], d[2], d[3] = v, v, v, 255
		}
	case *image.NRGBA64:
		p := s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)]
		for i := 0; i < len(p); i += 8 {
			a := uint32(p[i+6])<<8 | uint32(p[i+7])
			d := dst[i/2 : i/2+4 : i/2+4]
			for c := range 3 {
				v := (uint32(p[i+2*c])<<8 | uint32(p[i+2*c+1])) * a / 0xffff
				d[c] = uint8(v >> 8)
			}
			d[3] = uint8(a >> 8)
		}
	case *image.RGBA64:
		p := s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)]
		for i := 0; i < len(p); i += 8 {
			d := dst[i/2 : i/2+4 : i/2+4]
			d[0], d[1], d[2], d[3] = p[i], p[i+2], p[i+4], p[i+6]
		}
	case *image.Gray16:
		p := s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)]
		for i := 0; i < len(p); i += 2 {
			d := dst[i*2 : i*2+4 : i*2+4]
			d[0], d[1], d[2], d[3] = p[i], p[i], p[i], 255
		}
	case *image.Paletted:
		var pal [256][4]uint8
		for i, c := range s.Palette {
			r, g, b, a := c.RGBA()
			pal[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
		}
		p := s.Pix[s.PixOffset(x0, y):s.PixOffset(x1, y)]
		for i, v := range p {
			copy(dst[i*4:i*4+4], pal[v][:])
		}
	default:
		for x := x0; x < x1; x++ {
			r, g, b, a := src.At(x, y).RGBA()
			d := dst[(x-x0)*4 : (x-x0)*4+4 : (x-x0)*4+4]
			d[0], d[1], d[2], d[3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
		}
	}
}

// parallel runs fn over [0, n) split into up to GOMAXPROCS contiguous parts and returns when
// all have finished.
func parallel(n int, fn func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), max(n/16, 1))
	if parts <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}
