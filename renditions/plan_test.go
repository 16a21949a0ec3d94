package renditions

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vector is one row of testdata/rendition-vectors.tsv.
type vector struct {
	line       int
	srcW, srcH int
	focal      *FocalPoint
	spec       string
	outW, outH int
	crop       *image.Rectangle
}

func (v vector) String() string {
	f := "-"
	if v.focal != nil {
		f = fmt.Sprintf("%d,%d,%d,%d", v.focal.X, v.focal.Y, v.focal.Width, v.focal.Height)
	}
	return fmt.Sprintf("%dx%d/%s/%s", v.srcW, v.srcH, f, v.spec)
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir(t), "rendition-vectors.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ints := func(s string) []int {
		var out []int
		for _, p := range strings.Split(s, ",") {
			n, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("bad number %q in vectors", p)
			}
			out = append(out, n)
		}
		return out
	}
	var vs []vector
	sc := bufio.NewScanner(f)
	header := true
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		if header { // column names
			header = false
			continue
		}
		c := strings.Split(text, "\t")
		if len(c) != 7 {
			t.Fatalf("line %d: %d columns", line, len(c))
		}
		v := vector{line: line, spec: c[3]}
		v.srcW, v.srcH = ints(c[0])[0], ints(c[1])[0]
		v.outW, v.outH = ints(c[4])[0], ints(c[5])[0]
		if c[2] != "-" {
			p := ints(c[2])
			v.focal = &FocalPoint{X: p[0], Y: p[1], Width: p[2], Height: p[3]}
		}
		if c[6] != "-" {
			p := ints(c[6])
			r := image.Rect(p[0], p[1], p[2], p[3])
			v.crop = &r
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 30 {
		t.Fatalf("only %d vectors read", len(vs))
	}
	return vs
}

func TestVectorsPlan(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.String(), func(t *testing.T) {
			s, err := Parse(v.spec, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Plan(v.srcW, v.srcH, JPEG, v.focal, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if p.Width != v.outW || p.Height != v.outH {
				t.Errorf("line %d: size %dx%d, want %dx%d", v.line, p.Width, p.Height, v.outW, v.outH)
			}
			if v.crop != nil && p.Crop != *v.crop {
				t.Errorf("line %d: crop %v, want %v", v.line, p.Crop, *v.crop)
			}
			if s.UsesFocalPoint() != strings.Contains(v.spec, "fill") {
				t.Errorf("UsesFocalPoint = %v", s.UsesFocalPoint())
			}
		})
	}
}

// TestVectorsGenerate makes a real source of each vector's size (a gradient, so a pixel's colour
// says where it came from), generates the rendition, and checks the decoded output's size and,
// where the vector fixes the crop, that the output's centre shows the crop's centre.
func TestVectorsGenerate(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.String(), func(t *testing.T) {
			src := encodeJPEGBytes(t, gradient(v.srcW, v.srcH), 95)
			p, out := generate(t, src, v.spec, v.focal)
			img := decodeOutput(t, out, JPEG)
			if b := img.Bounds(); b.Dx() != v.outW || b.Dy() != v.outH {
				t.Fatalf("line %d: output %dx%d, want %dx%d", v.line, b.Dx(), b.Dy(), v.outW, v.outH)
			}
			if p.Width != v.outW || p.Height != v.outH {
				t.Errorf("returned plan %dx%d", p.Width, p.Height)
			}
			if v.crop == nil || v.srcW < 8 || v.srcH < 8 {
				return
			}
			cx := (float64(v.crop.Min.X) + float64(v.crop.Max.X)) / 2
			cy := (float64(v.crop.Min.Y) + float64(v.crop.Max.Y)) / 2
			wantR := 255 * cx / float64(v.srcW)
			wantG := 255 * cy / float64(v.srcH)
			got := nrgbaAt(img, v.outW/2, v.outH/2)
			// one output pixel spans crop/out source pixels; allow that plus JPEG noise
			tolR := 10 + 255*float64(v.crop.Dx())/float64(v.outW)/float64(v.srcW)
			tolG := 10 + 255*float64(v.crop.Dy())/float64(v.outH)/float64(v.srcH)
			if d := float64(got.R) - wantR; d > tolR || d < -tolR {
				t.Errorf("centre red %d, want %.0f±%.0f: horizontal crop is off", got.R, wantR, tolR)
			}
			if d := float64(got.G) - wantG; d > tolG || d < -tolG {
				t.Errorf("centre green %d, want %.0f±%.0f: vertical crop is off", got.G, wantG, tolG)
			}
		})
	}
}

func TestPlanFormats(t *testing.T) {
	tests := []struct {
		spec    string
		src     Format
		want    Format
		quality int
		err     error
	}{
		{"width-400", JPEG, JPEG, DefaultJPEGQuality, nil},
		{"width-400", PNG, PNG, 0, nil},
		{"width-400", GIF, PNG, 0, nil},
		{"width-400|format-gif", GIF, GIF, 0, nil},
		{"width-400|format-png", JPEG, PNG, 0, nil},
		{"width-400|format-jpeg", PNG, JPEG, DefaultJPEGQuality, nil},
		{"width-400|format-jpeg|jpegquality-55", PNG, JPEG, 55, nil},
		{"width-400|jpegquality-55", JPEG, JPEG, 55, nil},
		{"width-400|jpegquality-55", PNG, PNG, 0, nil},
		{"width-400", AVIF, "", 0, ErrUnsupportedFormat},
		{"width-400", "bmp", "", 0, ErrUnsupportedFormat},
	}
	type row = struct {
		spec    string
		src     Format
		want    Format
		quality int
		err     error
	}
	if _, ok := encoders[WebP]; ok {
		tests = append(tests,
			row{"width-400", WebP, WebP, DefaultWebPQuality, nil},
			row{"width-400|format-webp", JPEG, WebP, DefaultWebPQuality, nil},
			row{"width-400|format-webp|webpquality-55", JPEG, WebP, 55, nil})
	} else {
		tests = append(tests,
			row{"width-400|format-webp", JPEG, "", 0, ErrFormatNotSupported},
			row{"width-400|format-webp-lossless", PNG, "", 0, ErrFormatNotSupported},
			// Until a WebP encoder is registered a WebP source falls back to PNG.
			row{"width-400", WebP, PNG, 0, nil})
	}
	if _, ok := encoders[AVIF]; ok {
		tests = append(tests, row{"width-400|format-avif", JPEG, AVIF, DefaultAVIFQuality, nil})
	} else {
		tests = append(tests, row{"width-400|format-avif", JPEG, "", 0, ErrFormatNotSupported})
	}
	for _, tt := range tests {
		t.Run(string(tt.src)+"/"+tt.spec, func(t *testing.T) {
			if _, ok := encoders[tt.want]; tt.err == nil && !ok {
				t.Skip("no encoder")
			}
			s := MustParse(tt.spec)
			p, err := s.Plan(1000, 500, tt.src, nil, DefaultLimits())
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != tt.want || p.Quality != tt.quality {
				t.Errorf("format %s quality %d, want %s %d", p.Format, p.Quality, tt.want, tt.quality)
			}
		})
	}
	if got := ErrFormatNotSupported.Error(); got != "format not supported" {
		t.Errorf("ErrFormatNotSupported says %q", got)
	}
}

func TestPlanLimits(t *testing.T) {
	var le *LimitError
	lim := DefaultLimits()
	tests := []struct {
		spec       string
		w, h       int
		limit      string
		op         string
		wantW      int
		wantH      int
		shouldFail bool
	}{
		{spec: "original", w: 5640, h: 3172, shouldFail: true, limit: "MaxOutputSide", op: "original"},
		{spec: "width-4000", w: 5640, h: 3172, wantW: 4000, wantH: 2249},
		{spec: "scale-200", w: 3000, h: 1000, shouldFail: true, limit: "MaxOutputSide", op: "scale-200"},
		{spec: "scale-99999|width-400", w: 100, h: 100, shouldFail: true, limit: "MaxOutputSide", op: "scale-99999"},
		{spec: "scale-50|width-400", w: 6000, h: 3000, wantW: 400, wantH: 200},
		{spec: "width-400", w: 30001, h: 10, shouldFail: true, limit: "MaxSourceSide"},
		{spec: "width-400", w: 10000, h: 10000, shouldFail: true, limit: "MaxSourcePixels"},
		// A 1×20000 sliver: width-400 leaves it 20000 tall, over the output cap, so it is
		// refused (never clamped: URLs advertise the maths). height-400 makes it 1×400.
		{spec: "width-400", w: 1, h: 20000, shouldFail: true, limit: "MaxOutputSide", op: "width-400"},
		{spec: "height-400", w: 1, h: 20000, wantW: 1, wantH: 400},
		{spec: "width-400", w: 20000, h: 1, wantW: 400, wantH: 1},
		// Wagtail's maths: the 1×1 box centred at y=10000 rounds outwards to two rows.
		{spec: "fill-400x400", w: 1, h: 20000, wantW: 1, wantH: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d/%s", tt.w, tt.h, tt.spec), func(t *testing.T) {
			p, err := MustParse(tt.spec).Plan(tt.w, tt.h, JPEG, nil, lim)
			if !tt.shouldFail {
				if err != nil {
					t.Fatal(err)
				}
				if p.Width != tt.wantW || p.Height != tt.wantH {
					t.Errorf("size %dx%d, want %dx%d", p.Width, p.Height, tt.wantW, tt.wantH)
				}
				return
			}
			if !errors.As(err, &le) || le.Limit != tt.limit {
				t.Fatalf("err = %v, want a *LimitError on %s", err, tt.limit)
			}
			if le.Op != tt.op {
				t.Errorf("Op = %q, want %q", le.Op, tt.op)
			}
		})
	}
}

// TestPlanFocalChain checks fill after another size operation: the focal point follows the
// virtual image and the crop lands in source coordinates.
func TestPlanFocalChain(t *testing.T) {
	focal := &FocalPoint{X: 1800, Y: 500, Width: 100, Height: 100}
	direct, err := MustParse("fill-100x100-c100").Plan(2000, 1000, JPEG, focal, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	chained, err := MustParse("width-1000|fill-100x100-c100").Plan(2000, 1000, JPEG, focal, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if direct.Width != 100 || chained.Width != 100 {
		t.Fatalf("sizes %dx%d and %dx%d", direct.Width, direct.Height, chained.Width, chained.Height)
	}
	// At half size the 100×100 output is a 200×200 source box: in the 1000×500 virtual image the
	// box is 100 wide, centred at 900-(0.9-0.5)*100 = 860, then moved right to cover the focal
	// point's right edge at 925: 825..925, which is 1650..1850 in the source.
	if want := image.Rect(1650, 400, 1850, 600); chained.Crop != want {
		t.Errorf("chained crop %v, want %v", chained.Crop, want)
	}
	if want := image.Rect(1750, 450, 1850, 550); direct.Crop != want {
		t.Errorf("direct crop %v, want %v", direct.Crop, want)
	}
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := encodeJPEGBytes(t, gradient(64, 64), 90)
	_, err := Generate(ctx, bytes.NewReader(src), MustParse("width-32"), nil, DefaultOptions(), &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
