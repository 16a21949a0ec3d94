package renditions

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/gif"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"original", "width-400", "height-300", "max-800x600", "min-120x120", "scale-83.0322",
		"fill-200x200-c50|format-webp|webpquality-70", "fill-0x0", "", "|", "width-400||x",
		"format-jpeg|width-400|bgcolor-FFF|jpegquality-80", "format-avif-lossless|avifquality-50",
		"Width-400", "width-400-500", "fill-200x200-c150", "bgcolor-gggggg", "scale-0.000001",
		"fill-4000x4000|scale-999999.999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, DefaultLimits())
		if err != nil {
			var se *SpecError
			var le *LimitError
			if !errors.As(err, &se) && !errors.As(err, &le) {
				t.Fatalf("Parse(%q) = %T %v, want *SpecError or *LimitError", spec, err, err)
			}
			return
		}
		canon := s.String()
		again, err := Parse(canon, DefaultLimits())
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, spec, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form of %q is unstable: %q then %q", spec, canon, again.String())
		}
		// Planning must not panic and must respect the output cap.
		p, err := s.Plan(1000, 700, JPEG, &FocalPoint{X: 900, Y: 100, Width: 50, Height: 80}, DefaultLimits())
		if err == nil {
			if p.Width < 1 || p.Height < 1 || p.Width > 4000 || p.Height > 4000 {
				t.Fatalf("%q plans %dx%d", spec, p.Width, p.Height)
			}
			if !p.Crop.In(image.Rect(0, 0, 1000, 700)) || p.Crop.Empty() {
				t.Fatalf("%q crops %v", spec, p.Crop)
			}
		}
	})
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"width-{400,800}|format-{webp,jpeg}", "{a,b}{c}", "{", "}", "{{}}", "{,}", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		out, err := Expand(pattern)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Expand(%q) = %T", pattern, err)
			}
			return
		}
		if len(out) == 0 || len(out) > MaxExpansions {
			t.Fatalf("Expand(%q) gave %d specs", pattern, len(out))
		}
	})
}

// fuzzSeeds are small real images of every accepted format plus broken ones.
func fuzzSeeds(f *testing.F) [][]byte {
	img := gradient(24, 16)
	var g bytes.Buffer
	if err := gif.Encode(&g, img, nil); err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		encodeJPEGBytes(f, img, 80),
		jpegWithExif(f, img, 6),
		encodePNGBytes(f, img),
		g.Bytes(),
		corpusFile(f, "webp/vnc-d.webp"),
		forgedJPEG(65500, 65500, true),
		pngBomb(100000, 100000)[:64],
		gifHeader(60000, 60000),
		[]byte("RIFF\x1e\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x63\x00\x00\x63\x00\x00"),
		nil,
	}
	var prog bytes.Buffer // a small progressive JPEG through our own encoder
	s := MustParse("original|jpegquality-80")
	if _, err := Generate(context.Background(), bytes.NewReader(seeds[0]), s, nil, DefaultOptions(), &prog); err != nil {
		f.Fatal(err)
	}
	return append(seeds, prog.Bytes())
}

func FuzzInspect(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	lim := Limits{MaxSourcePixels: 1 << 20, MaxSourceSide: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: onlyReader{bytes.NewReader(data)}}
		info, err := Inspect(r, lim)
		if r.n > InspectReadLimit {
			t.Fatalf("read %d bytes", r.n)
		}
		if err != nil {
			var le *LimitError
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFormat) && !errors.As(err, &le) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !info.Format.isSource() || info.Width < 1 || info.Height < 1 || info.Width > 4096 || info.Height > 4096 ||
			int64(info.Width)*int64(info.Height) > 1<<20 || info.Orientation < 1 || info.Orientation > 8 {
			t.Fatalf("Inspect = %+v", info)
		}
	})
}

// FuzzGenerate runs the whole decode path on mutated images under small limits. Whatever the
// input, Generate must not panic, and a success must decode to the planned size.
func FuzzGenerate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, "width-16")
		f.Add(s, "fill-8x8-c50|format-png")
	}
	opts := DefaultOptions()
	opts.Limits = Limits{MaxSourcePixels: 1 << 16, MaxSourceSide: 1024, MaxOutputSide: 64, MaxOperations: 4}
	f.Fuzz(func(t *testing.T, data []byte, spec string) {
		s, err := Parse(spec, opts.Limits)
		if err != nil {
			return
		}
		var out bytes.Buffer
		p, err := Generate(context.Background(), bytes.NewReader(data), s, &FocalPoint{X: 4, Y: 4, Width: 2, Height: 2}, opts, &out)
		if err != nil {
			return
		}
		img := decodeOutput(t, out.Bytes(), p.Format)
		if b := img.Bounds(); b.Dx() != p.Width || b.Dy() != p.Height {
			t.Fatalf("output %v, plan %dx%d", b, p.Width, p.Height)
		}
	})
}

// FuzzReducedDecode runs the decoders that read only part of a large source — progressive and
// baseline JPEG at 1/8 and 1/4 DCT scale, PNG shrunk row by row — on mutated sources big enough
// to take those paths (FuzzGenerate's sources are too small to be shrunk on load). Whatever the
// input, Generate must not panic, and a success must decode to the planned size.
func FuzzReducedDecode(f *testing.F) {
	for _, name := range []string{"refine.jpg", "restart.jpg", "gray.jpg", "baseline-restart.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", "progressive", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "width-40")
		f.Add(data, "fill-150x100|format-png")
	}
	png := encodePNGBytes(f, gradient(640, 400))
	f.Add(png, "width-40")
	f.Add(png, "width-200|format-png")
	opts := DefaultOptions()
	opts.Limits = Limits{MaxSourcePixels: 1 << 20, MaxSourceSide: 2048, MaxOutputSide: 256, MaxOperations: 4}
	f.Fuzz(func(t *testing.T, data []byte, spec string) {
		s, err := Parse(spec, opts.Limits)
		if err != nil {
			return
		}
		var out bytes.Buffer
		p, err := Generate(context.Background(), bytes.NewReader(data), s, nil, opts, &out)
		if err != nil {
			return
		}
		img := decodeOutput(t, out.Bytes(), p.Format)
		if b := img.Bounds(); b.Dx() != p.Width || b.Dy() != p.Height {
			t.Fatalf("output %v, plan %dx%d", b, p.Width, p.Height)
		}
	})
}
