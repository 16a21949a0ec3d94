package renditions

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// FocalPoint is the part of an image that matters most, as its centre X, Y and its Width and
// Height, in upright source pixels. Only fill uses it.
type FocalPoint struct{ X, Y, Width, Height int }

// Plan is what a spec produces on a given source, computed without pixels.
type Plan struct {
	// Width and Height are the output size.
	Width, Height int
	// Crop is the area of the upright source that is used; it is resized to Width×Height.
	Crop image.Rectangle
	// Format is the output format.
	Format Format
	// Quality is the encoder quality (1–100) for JPEG, WebP and AVIF outputs: the spec's, else
	// the default (from DefaultOptions in Spec.Plan, from the Options in Generate). It is 0 for
	// PNG and GIF.
	Quality int
	// Lossless is set by format-webp-lossless and format-avif-lossless.
	Lossless bool
	// AVIFSpeed is the AVIF encoder speed (1–10) for AVIF outputs: DefaultAVIFSpeed from
	// Spec.Plan, Options.AVIFSpeed in Generate. It is 0 for other formats.
	AVIFSpeed int
	// Background is the spec's bgcolor, or nil. Alpha is flattened onto it; a JPEG or GIF
	// output without one is flattened onto white.
	Background *color.NRGBA

	qualitySet bool // Quality came from the spec
}

// Resizes reports whether the plan changes the pixel size of its crop.
func (p Plan) Resizes() bool { return p.Width != p.Crop.Dx() || p.Height != p.Crop.Dy() }

// box is a rectangle with float edges.
type box struct{ l, t, r, b float64 }

func (b box) w() float64 { return b.r - b.l }
func (b box) h() float64 { return b.b - b.t }

func (b box) shift(dx, dy float64) box { return box{b.l + dx, b.t + dy, b.r + dx, b.b + dy} }

// Plan computes, without pixels, what s produces on an upright source of srcW×srcH in format
// src, with an optional focal point (nil = none; only fill reads it). It returns the output size,
// the crop box in source pixels, and the output format with its quality.
//
// The maths is Wagtail's (see renditions.md and rendition-vectors.tsv): size operations run left
// to right on the size the previous one produced; width/height/max/min/scale truncate the other
// side with int() and never go below 1; fill takes the largest W:H box, shrinks it towards the
// focal point by its closeness without ever forcing an enlargement, positions it, rounds it
// outwards and resizes to W×H only when that shrinks. Only scale enlarges.
//
// Without format-*, JPEG stays JPEG, PNG stays PNG, WebP stays WebP and GIF becomes PNG. While
// no WebP encoder is registered a WebP source without format-* falls back to PNG; an explicit
// format with no encoder returns ErrFormatNotSupported.
//
// A source over lim's source caps, an output side over lim.MaxOutputSide, a scale that
// enlarges past it, or an AVIF output over lim.MaxAVIFPixels returns a *LimitError. Zero Limits fields mean their defaults. An output is
// never silently clamped to the cap, because callers advertise these sizes before any pixels
// exist: `original` of a 5640-wide photo, or width-400 of a 1×20000 sliver (width only ever
// shrinks, so it stays 20000 tall), is refused; height-400 or max-400x400 make such renditions.
func (s Spec) Plan(srcW, srcH int, src Format, focal *FocalPoint, lim Limits) (Plan, error) {
	lim = lim.withDefaults()
	if srcW < 1 || srcH < 1 {
		return Plan{}, &PlanError{What: fmt.Sprintf("source size %dx%d", srcW, srcH), Err: ErrCorrupt}
	}
	if err := checkSource(srcW, srcH, lim); err != nil {
		return Plan{}, err
	}
	if !src.isSource() {
		return Plan{}, &PlanError{What: fmt.Sprintf("source format %q", src), Err: ErrUnsupportedFormat}
	}
	p := Plan{Format: s.outputFormat(src), Lossless: s.lossless}
	if _, ok := encoders[p.Format]; !ok {
		return Plan{}, &PlanError{What: "output " + string(p.Format), Err: ErrFormatNotSupported}
	}
	switch p.Format {
	case JPEG:
		p.Quality, p.qualitySet = pick(s.jpegQuality, DefaultJPEGQuality)
	case WebP:
		p.Quality, p.qualitySet = pick(s.webpQuality, DefaultWebPQuality)
	case AVIF:
		p.Quality, p.qualitySet = pick(s.avifQuality, DefaultAVIFQuality)
		p.AVIFSpeed = DefaultAVIFSpeed
	}
	if s.hasBG {
		bg := s.bg
		p.Background = &bg
	}

	// The virtual image: crop (in source pixels) shown at w×h.
	crop := box{0, 0, float64(srcW), float64(srcH)}
	w, h := srcW, srcH
	for _, o := range s.ops {
		switch o.kind {
		case opWidth:
			if w <= o.w {
				continue
			}
			scale := float64(o.w) / float64(w)
			w, h = o.w, atLeast1(float64(h)*scale)
		case opHeight:
			if h <= o.h {
				continue
			}
			scale := float64(o.h) / float64(h)
			w, h = atLeast1(float64(w)*scale), o.h
		case opMax, opMin:
			hs := float64(o.w) / float64(w)
			vs := float64(o.h) / float64(h)
			if o.kind == opMax {
				if w <= o.w && h <= o.h {
					continue
				}
				if hs < vs {
					w, h = o.w, atLeast1(float64(h)*hs)
				} else {
					w, h = atLeast1(float64(w)*vs), o.h
				}
			} else {
				if w <= o.w || h <= o.h {
					continue
				}
				if hs > vs {
					w, h = o.w, atLeast1(float64(h)*hs)
				} else {
					w, h = atLeast1(float64(w)*vs), o.h
				}
			}
		case opScale:
			scale := o.percent / 100
			fw, fh := float64(w)*scale, float64(h)*scale
			if (fw > float64(lim.MaxOutputSide) && fw > float64(w)) || (fh > float64(lim.MaxOutputSide) && fh > float64(h)) {
				return Plan{}, &LimitError{Op: o.String(), Limit: "MaxOutputSide", Value: int64(math.Max(fw, fh)), Max: int64(lim.MaxOutputSide)}
			}
			w, h = atLeast1(fw), atLeast1(fh)
		case opFill:
			// The focal point in the coordinates of the current virtual image.
			var f *box
			if focal != nil {
				sx, sy := float64(w)/crop.w(), float64(h)/crop.h()
				cx := (float64(focal.X) - crop.l) * sx
				cy := (float64(focal.Y) - crop.t) * sy
				fw, fh := float64(focal.Width)*sx, float64(focal.Height)*sy
				f = &box{cx - fw/2, cy - fh/2, cx + fw/2, cy + fh/2}
			}
			r := fillBox(w, h, o, f)
			// Back to source coordinates.
			sx, sy := crop.w()/float64(w), crop.h()/float64(h)
			crop = box{crop.l + r.l*sx, crop.t + r.t*sy, crop.l + r.r*sx, crop.t + r.b*sy}
			w, h = int(r.w()), int(r.h())
			if float64(o.w)/float64(w) < 1 {
				w, h = o.w, o.h
			}
		}
	}
	if w > lim.MaxOutputSide || h > lim.MaxOutputSide {
		return Plan{}, &LimitError{Op: s.String(), Limit: "MaxOutputSide", Value: int64(max(w, h)), Max: int64(lim.MaxOutputSide)}
	}
	if px := int64(w) * int64(h); p.Format == AVIF && px > lim.MaxAVIFPixels {
		return Plan{}, &LimitError{Op: s.String(), Limit: "MaxAVIFPixels", Value: px, Max: lim.MaxAVIFPixels}
	}
	p.Width, p.Height = w, h
	p.Crop = roundOut(crop, srcW, srcH)
	return p, nil
}

// fillBox is Wagtail's fill on a w×h image: it returns the crop box, rounded outwards to whole
// pixels and kept inside the image. f is the focal point box, or nil.
func fillBox(w, h int, o sizeOp, f *box) box {
	iw, ih := float64(w), float64(h)
	aspect := float64(o.w) / float64(o.h)
	maxScale := math.Min(iw, ih*aspect)
	cw, ch := maxScale, maxScale/aspect

	if f != nil {
		minScale := math.Max(f.w(), f.h()*aspect)
		minW, minH := minScale, minScale/aspect
		if !(minScale >= maxScale) {
			// The largest closeness that does not make the final resize enlarge.
			maxCloseness := math.Max(
				1-(float64(o.w)-minW)/(cw-minW),
				1-(float64(o.h)-minH)/(ch-minH),
			)
			c := math.Min(float64(o.closeness)/100, maxCloseness)
			if c >= 0 && c <= 1 {
				cw, ch = cw*(1-c)+minW*c, ch*(1-c)+minH*c
			}
		}
	}

	fx, fy := iw/2, ih/2
	if f != nil {
		fx, fy = (f.l+f.r)/2, (f.t+f.b)/2
	}
	u, v := fx/iw, fy/ih
	x, y := fx-(u-0.5)*cw, fy-(v-0.5)*ch
	r := box{x - cw/2, y - ch/2, x + cw/2, y + ch/2}

	if f != nil { // move to cover the whole focal point
		if r.l > f.l {
			r = r.shift(f.l-r.l, 0)
		}
		if r.t > f.t {
			r = r.shift(0, f.t-r.t)
		}
		if r.r < f.r {
			r = r.shift(f.r-r.r, 0)
		}
		if r.b < f.b {
			r = r.shift(0, f.b-r.b)
		}
	}
	// move back inside the image
	if r.l < 0 {
		r = r.shift(-r.l, 0)
	}
	if r.t < 0 {
		r = r.shift(0, -r.t)
	}
	if r.r > iw {
		r = r.shift(iw-r.r, 0)
	}
	if r.b > ih {
		r = r.shift(0, ih-r.b)
	}
	// round outwards, then clamp
	r = box{math.Floor(r.l), math.Floor(r.t), math.Ceil(r.r), math.Ceil(r.b)}
	r = box{math.Max(r.l, 0), math.Max(r.t, 0), math.Min(r.r, iw), math.Min(r.b, ih)}
	if r.w() < 1 {
		r.r = math.Min(r.l+1, iw)
		r.l = r.r - 1
	}
	if r.h() < 1 {
		r.b = math.Min(r.t+1, ih)
		r.t = r.b - 1
	}
	return r
}

// roundOut rounds b outwards to whole source pixels (ignoring float noise) inside w×h.
func roundOut(b box, w, h int) image.Rectangle {
	const eps = 1e-6
	r := image.Rect(
		int(math.Floor(b.l+eps)), int(math.Floor(b.t+eps)),
		int(math.Ceil(b.r-eps)), int(math.Ceil(b.b-eps)),
	).Intersect(image.Rect(0, 0, w, h))
	if r.Dx() < 1 {
		r.Max.X = min(r.Min.X+1, w)
		r.Min.X = r.Max.X - 1
	}
	if r.Dy() < 1 {
		r.Max.Y = min(r.Min.Y+1, h)
		r.Min.Y = r.Max.Y - 1
	}
	return r
}

func atLeast1(v float64) int {
	if v < 1 {
		return 1
	}
	return int(v)
}

func pick(v, def int) (int, bool) {
	if v != 0 {
		return v, true
	}
	return def, false
}

// outputFormat is the format s writes for a source in src.
func (s Spec) outputFormat(src Format) Format {
	if s.format != "" {
		return s.format
	}
	switch src {
	case GIF:
		return PNG
	case WebP:
		if _, ok := encoders[WebP]; !ok {
			return PNG
		}
	}
	return src
}

// checkSource applies the source caps of lim (with defaults) to a w×h header.
func checkSource(w, h int, lim Limits) error {
	if w > lim.MaxSourceSide || h > lim.MaxSourceSide {
		return &LimitError{Limit: "MaxSourceSide", Value: int64(max(w, h)), Max: int64(lim.MaxSourceSide)}
	}
	if px := int64(w) * int64(h); px > lim.MaxSourcePixels {
		return &LimitError{Limit: "MaxSourcePixels", Value: px, Max: lim.MaxSourcePixels}
	}
	return nil
}
