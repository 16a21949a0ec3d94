package renditions

import (
	"fmt"
	"image/color"
	"strconv"
	"strings"
)

// MaxSpecLength caps the length of a spec string, before any other check.
const MaxSpecLength = 512

// Spec is a parsed, validated and canonicalised filter spec. The zero Spec is "original".
// A Spec is immutable; copies share nothing that can change.
type Spec struct {
	ops         []sizeOp // size operations, in the order given (order changes results)
	format      Format   // "" = the default for the source format
	lossless    bool     // format-webp-lossless / format-avif-lossless
	jpegQuality int      // 0 = Options default
	webpQuality int
	avifQuality int
	hasBG       bool
	bg          color.NRGBA
}

type opKind uint8

const (
	opWidth opKind = iota + 1
	opHeight
	opMax
	opMin
	opScale
	opFill
)

// sizeOp is one size operation. w and h hold the target sizes (width-N uses w, height-N h),
// percent the scale, closeness fill's -cNN (0–100).
type sizeOp struct {
	kind      opKind
	w, h      int
	percent   float64
	closeness int
}

func (o sizeOp) String() string {
	switch o.kind {
	case opWidth:
		return "width-" + strconv.Itoa(o.w)
	case opHeight:
		return "height-" + strconv.Itoa(o.h)
	case opMax:
		return fmt.Sprintf("max-%dx%d", o.w, o.h)
	case opMin:
		return fmt.Sprintf("min-%dx%d", o.w, o.h)
	case opScale:
		return "scale-" + strconv.FormatFloat(o.percent, 'f', -1, 64)
	case opFill:
		if o.closeness > 0 {
			return fmt.Sprintf("fill-%dx%d-c%d", o.w, o.h, o.closeness)
		}
		return fmt.Sprintf("fill-%dx%d", o.w, o.h)
	}
	return "original"
}

// Parse validates spec against the grammar in renditions.md and returns its canonical form.
//
// Every invalid spec returns a *SpecError naming the bad operation: an empty spec or empty
// operation, an unknown or mis-cased name, a wrong argument count, a non-integer where an
// integer is needed, a zero size (fill-0x0), a quality outside 1–100, a bgcolor that is not 3
// or 6 hex digits, lossless on a format other than webp/avif, and two different values for the
// same format, quality or bgcolor operation. A spec with more than lim.MaxOperations operations,
// or naming a size over lim.MaxOutputSide, returns a *LimitError instead. Zero Limits fields
// mean their defaults.
//
// Canonicalisation: size operations keep their order; `original` is dropped when anything else
// remains; format, quality and bgcolor operations are deduplicated and put after the size
// operations in the fixed order format, jpegquality, webpquality, avifquality, bgcolor; a
// quality for a format other than an explicit format-* is dropped (it cannot apply); numbers
// lose leading zeros, fill's -c0 is dropped and -cNN over 100 becomes -c100, bgcolor becomes
// six lower-case hex digits.
func Parse(spec string, lim Limits) (Spec, error) {
	lim = lim.withDefaults()
	if spec == "" {
		return Spec{}, &SpecError{Reason: "empty spec"}
	}
	if len(spec) > MaxSpecLength {
		return Spec{}, &SpecError{Reason: fmt.Sprintf("spec is %d bytes long, the maximum is %d", len(spec), MaxSpecLength)}
	}
	parts := strings.Split(spec, "|")
	if len(parts) > lim.MaxOperations {
		return Spec{}, &LimitError{Op: spec, Limit: "MaxOperations", Value: int64(len(parts)), Max: int64(lim.MaxOperations)}
	}
	var s Spec
	for i, part := range parts {
		if part == "" {
			return Spec{}, &SpecError{Reason: fmt.Sprintf("operation %d of %d is empty", i+1, len(parts))}
		}
		if err := s.parseOp(part, lim); err != nil {
			return Spec{}, err
		}
	}
	// A quality that cannot apply to an explicit output format is dropped.
	if s.format != "" {
		if s.format != JPEG {
			s.jpegQuality = 0
		}
		if s.format != WebP {
			s.webpQuality = 0
		}
		if s.format != AVIF {
			s.avifQuality = 0
		}
	}
	return s, nil
}

// MustParse is like Parse with DefaultLimits but panics on error. It is meant for specs fixed
// in code.
func MustParse(spec string) Spec {
	s, err := Parse(spec, DefaultLimits())
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Spec) parseOp(op string, lim Limits) error {
	name, rest, _ := strings.Cut(op, "-")
	var args []string
	if rest != "" || strings.HasSuffix(op, "-") {
		args = strings.Split(rest, "-")
	}
	bad := func(format string, a ...any) error {
		return &SpecError{Op: op, Reason: fmt.Sprintf(format, a...)}
	}
	nargs := func(min, max int, usage string) error {
		if len(args) < min || len(args) > max {
			return bad("%s takes %s (%s), got %d", name, plural(min, max), usage, len(args))
		}
		return nil
	}
	size := func(label, text string) (int, error) {
		n, ok := parseUint(text)
		if !ok {
			return 0, bad("%s must be a whole number of pixels, got %q", label, text)
		}
		if n < 1 {
			return 0, bad("%s must be at least 1", label)
		}
		if n > lim.MaxOutputSide {
			return 0, &LimitError{Op: op, Limit: "MaxOutputSide", Value: int64(n), Max: int64(lim.MaxOutputSide)}
		}
		return n, nil
	}
	pair := func(text string) (int, int, error) {
		ws, hs, ok := strings.Cut(text, "x")
		if !ok {
			return 0, 0, bad("%s needs WIDTHxHEIGHT, got %q", name, text)
		}
		w, err := size("width", ws)
		if err != nil {
			return 0, 0, err
		}
		h, err := size("height", hs)
		if err != nil {
			return 0, 0, err
		}
		return w, h, nil
	}

	switch name {
	case "original":
		return nargs(0, 0, "original")
	case "width", "height":
		if err := nargs(1, 1, name+"-N"); err != nil {
			return err
		}
		n, err := size(name, args[0])
		if err != nil {
			return err
		}
		if name == "width" {
			s.ops = append(s.ops, sizeOp{kind: opWidth, w: n})
		} else {
			s.ops = append(s.ops, sizeOp{kind: opHeight, h: n})
		}
		return nil
	case "max", "min":
		if err := nargs(1, 1, name+"-WxH"); err != nil {
			return err
		}
		w, h, err := pair(args[0])
		if err != nil {
			return err
		}
		kind := opMax
		if name == "min" {
			kind = opMin
		}
		s.ops = append(s.ops, sizeOp{kind: kind, w: w, h: h})
		return nil
	case "scale":
		if err := nargs(1, 1, "scale-PERCENT"); err != nil {
			return err
		}
		p, ok := parsePercent(args[0])
		if !ok {
			return bad("scale must be a positive percentage such as 50 or 83.5, got %q", args[0])
		}
		s.ops = append(s.ops, sizeOp{kind: opScale, percent: p})
		return nil
	case "fill":
		if err := nargs(1, 2, "fill-WxH or fill-WxH-cNN"); err != nil {
			return err
		}
		w, h, err := pair(args[0])
		if err != nil {
			return err
		}
		o := sizeOp{kind: opFill, w: w, h: h}
		if len(args) == 2 {
			c, ok := strings.CutPrefix(args[1], "c")
			n, isNum := parseUint(c)
			if !ok || !isNum {
				return bad("fill's second argument must be a closeness cNN (0–100), got %q", args[1])
			}
			o.closeness = min(n, 100)
		}
		s.ops = append(s.ops, o)
		return nil
	case "format":
		if err := nargs(1, 2, "format-F or format-F-lossless"); err != nil {
			return err
		}
		f := Format(args[0])
		if !f.valid() {
			return bad("unknown format %q (jpeg, png, gif, webp or avif)", args[0])
		}
		lossless := false
		if len(args) == 2 {
			if args[1] != "lossless" {
				return bad("format's second argument can only be lossless, got %q", args[1])
			}
			if f != WebP && f != AVIF {
				return bad("lossless applies to webp and avif only")
			}
			lossless = true
		}
		if s.format != "" && (s.format != f || s.lossless != lossless) {
			return bad("conflicts with %s", formatOp(s.format, s.lossless))
		}
		s.format, s.lossless = f, lossless
		return nil
	case "jpegquality", "webpquality", "avifquality":
		if err := nargs(1, 1, name+"-N"); err != nil {
			return err
		}
		q, ok := parseUint(args[0])
		if !ok || q < 1 || q > 100 {
			return bad("%s must be a whole number from 1 to 100, got %q", name, args[0])
		}
		dst := map[string]*int{"jpegquality": &s.jpegQuality, "webpquality": &s.webpQuality, "avifquality": &s.avifQuality}[name]
		if *dst != 0 && *dst != q {
			return bad("conflicts with %s-%d", name, *dst)
		}
		*dst = q
		return nil
	case "bgcolor":
		if err := nargs(1, 1, "bgcolor-RGB or bgcolor-RRGGBB"); err != nil {
			return err
		}
		c, ok := parseHexColor(args[0])
		if !ok {
			return bad("bgcolor must be 3 or 6 hex digits without '#', got %q", args[0])
		}
		if s.hasBG && s.bg != c {
			return bad("conflicts with bgcolor-%s", hexColor(s.bg))
		}
		s.hasBG, s.bg = true, c
		return nil
	}
	if lower := strings.ToLower(name); lower != name && knownOps[lower] {
		return bad("unknown operation %q: operation names are lower-case (%s)", name, lower)
	}
	return bad("unknown operation %q", name)
}

var knownOps = map[string]bool{
	"original": true, "width": true, "height": true, "max": true, "min": true, "scale": true,
	"fill": true, "format": true, "jpegquality": true, "webpquality": true, "avifquality": true,
	"bgcolor": true,
}

func plural(min, max int) string {
	switch {
	case min == max && min == 0:
		return "no arguments"
	case min == max && min == 1:
		return "1 argument"
	case min == max:
		return fmt.Sprintf("%d arguments", min)
	}
	return fmt.Sprintf("%d or %d arguments", min, max)
}

// parseUint parses 1–9 ASCII digits (no sign, no spaces).
func parseUint(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parsePercent parses a positive decimal with at most 6 digits on each side of the point.
func parsePercent(s string) (float64, bool) {
	ip, fp, hasPoint := strings.Cut(s, ".")
	if _, ok := parseUint(ip); !ok || len(ip) > 6 {
		return 0, false
	}
	if hasPoint {
		if _, ok := parseUint(fp); !ok || len(fp) > 6 {
			return 0, false
		}
	}
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p <= 0 {
		return 0, false
	}
	return p, true
}

func parseHexColor(s string) (color.NRGBA, bool) {
	if len(s) != 3 && len(s) != 6 {
		return color.NRGBA{}, false
	}
	var v [6]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v[i] = c - '0'
		case c >= 'a' && c <= 'f':
			v[i] = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v[i] = c - 'A' + 10
		default:
			return color.NRGBA{}, false
		}
	}
	if len(s) == 3 {
		return color.NRGBA{R: v[0] * 17, G: v[1] * 17, B: v[2] * 17, A: 255}, true
	}
	return color.NRGBA{R: v[0]<<4 | v[1], G: v[2]<<4 | v[3], B: v[4]<<4 | v[5], A: 255}, true
}

func hexColor(c color.NRGBA) string { return fmt.Sprintf("%02x%02x%02x", c.R, c.G, c.B) }

func formatOp(f Format, lossless bool) string {
	if lossless {
		return "format-" + string(f) + "-lossless"
	}
	return "format-" + string(f)
}

// String returns the canonical form of s (see Parse). Equivalent specs have equal strings, so
// the string is the key of a rendition. Parse(s.String()) returns an equal Spec.
func (s Spec) String() string {
	var parts []string
	for _, o := range s.ops {
		parts = append(parts, o.String())
	}
	if s.format != "" {
		parts = append(parts, formatOp(s.format, s.lossless))
	}
	if s.jpegQuality != 0 {
		parts = append(parts, "jpegquality-"+strconv.Itoa(s.jpegQuality))
	}
	if s.webpQuality != 0 {
		parts = append(parts, "webpquality-"+strconv.Itoa(s.webpQuality))
	}
	if s.avifQuality != 0 {
		parts = append(parts, "avifquality-"+strconv.Itoa(s.avifQuality))
	}
	if s.hasBG {
		parts = append(parts, "bgcolor-"+hexColor(s.bg))
	}
	if len(parts) == 0 {
		return "original"
	}
	return strings.Join(parts, "|")
}

// UsesFocalPoint reports whether the result of s depends on the image's focal point, which is
// true exactly when s contains a fill operation. Only such renditions key on the focal point.
func (s Spec) UsesFocalPoint() bool {
	for _, o := range s.ops {
		if o.kind == opFill {
			return true
		}
	}
	return false
}

// Format returns the output format s names with format-*, or "" when s leaves it to the source.
func (s Spec) Format() Format { return s.format }

// WithFormat returns s with its output format set to f (format-f), replacing any format-* and
// its lossless flag. Whether f has an encoder is checked by Plan, as for a parsed format-f.
func (s Spec) WithFormat(f Format) Spec {
	s.format, s.lossless = f, false
	return s
}

// FormatOfExtension returns the format a file extension (".png", "JPG"; the dot is optional)
// names, or "" when it names none of Veil's formats.
func FormatOfExtension(ext string) Format {
	switch strings.ToLower(strings.TrimPrefix(ext, ".")) {
	case "jpg", "jpeg", "jpe", "jfif":
		return JPEG
	case "png":
		return PNG
	case "gif":
		return GIF
	case "webp":
		return WebP
	case "avif":
		return AVIF
	}
	return ""
}
