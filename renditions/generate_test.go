package renditions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/disintegration/imaging"
	"github.com/gen2brain/jpegn"
)

// TestOrientationCorpus renders every orientation-N.jpg and checks it is upright: it must match
// upright.jpg rendered the same way. The pairs differ only by JPEG noise when right; a wrong
// orientation gives a mean difference of tens of levels.
func TestOrientationCorpus(t *testing.T) {
	upright := corpusFile(t, "orientation/upright.jpg")
	focal := &FocalPoint{X: 500, Y: 120, Width: 60, Height: 40}
	for _, spec := range []string{"original", "width-320", "fill-200x200", "fill-300x100-c60|format-png"} {
		_, want := generate(t, upright, spec, focal)
		wantFormat := JPEG
		if spec == "fill-300x100-c60|format-png" {
			wantFormat = PNG
		}
		wantImg := decodeOutput(t, want, wantFormat)
		for o := 1; o <= 8; o++ {
			t.Run(fmt.Sprintf("%s/orientation-%d", spec, o), func(t *testing.T) {
				src := corpusFile(t, fmt.Sprintf("orientation/orientation-%d.jpg", o))
				_, out := generate(t, src, spec, focal)
				img := decodeOutput(t, out, wantFormat)
				if img.Bounds().Size() != wantImg.Bounds().Size() {
					t.Fatalf("size %v, want %v", img.Bounds().Size(), wantImg.Bounds().Size())
				}
				if d := meanAbsDiff(t, img, wantImg); d > 3 {
					t.Errorf("mean abs difference from upright.jpg is %.2f levels, want ≤ 3", d)
				}
			})
		}
	}
	// The test can tell: a stored (unoriented) image differs a lot from the upright one.
	raw, err := jpegn.Decode(bytes.NewReader(corpusFile(t, "orientation/orientation-3.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	up, err := jpegn.Decode(bytes.NewReader(upright))
	if err != nil {
		t.Fatal(err)
	}
	if d := meanAbsDiff(t, raw, up); d < 10 {
		t.Errorf("rotated and upright differ by only %.2f: the tolerance above means nothing", d)
	}
}

// TestUprightToRaw checks that cropping the stored image at the mapped rectangle and then
// orienting it equals orienting first and cropping the upright image, for all orientations.
func TestUprightToRaw(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	raw := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	rnd.Shuffle(0, func(i, j int) {})
	for i := range raw.Pix {
		raw.Pix[i] = uint8(rnd.IntN(256))
	}
	for o := 1; o <= 8; o++ {
		up := orient(raw, o)
		ub := up.Bounds()
		for i := 0; i < 50; i++ {
			x0, y0 := rnd.IntN(ub.Dx()), rnd.IntN(ub.Dy())
			r := image.Rect(x0, y0, x0+1+rnd.IntN(ub.Dx()-x0), y0+1+rnd.IntN(ub.Dy()-y0))
			want := imaging.Crop(up, r)
			got := orient(imaging.Crop(raw, uprightToRaw(r, o, 7, 5)), o)
			if !bytes.Equal(imaging.Clone(got).Pix, want.Pix) || got.Bounds().Size() != want.Bounds().Size() {
				t.Fatalf("orientation %d, rect %v: mismatch", o, r)
			}
		}
	}
}

func TestOrientationSynthetic(t *testing.T) {
	// A stored 40×10 image tagged 6 is upright 10×40; fill to a square must come from the
	// upright centre.
	for o := uint16(1); o <= 8; o++ {
		src := jpegWithExif(t, gradient(80, 20), o)
		p, out := generate(t, src, "fill-10x10", nil)
		img := decodeOutput(t, out, JPEG)
		if img.Bounds().Dx() != 10 || img.Bounds().Dy() != 10 || p.Width != 10 {
			t.Fatalf("orientation %d: output %v", o, img.Bounds())
		}
	}
}

func TestDCOnlyMatchesFullDecode(t *testing.T) {
	src := corpusFile(t, "photos/FreshFlower.jpg") // progressive
	hr := &headReader{r: bytes.NewReader(src), n: InspectReadLimit}
	h, err := inspect(hr, DefaultLimits())
	if err != nil || !h.progressive {
		t.Fatalf("FreshFlower.jpg: %+v, %v; want progressive", h, err)
	}
	dc, ok := dcOnly(src)
	if !ok {
		t.Fatal("dcOnly refused a progressive JPEG")
	}
	if len(dc) >= len(src)/2 {
		t.Errorf("DC-only stream is %d of %d bytes", len(dc), len(src))
	}
	full, err := jpegn.Decode(bytes.NewReader(src), &jpegn.Options{ScaleDenom: 8})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := jpegn.Decode(bytes.NewReader(dc), &jpegn.Options{ScaleDenom: 8})
	if err != nil {
		t.Fatal(err)
	}
	if d := meanAbsDiff(t, full, fast); d > 0.5 {
		t.Errorf("DC-only 1/8 decode differs from the full one by %.3f levels", d)
	}
	if _, ok := dcOnly(src[:len(src)/2]); ok {
		t.Error("dcOnly accepted a truncated stream")
	}
	if _, ok := dcOnly([]byte("not a jpeg")); ok {
		t.Error("dcOnly accepted garbage")
	}
}

// TestPruneScansQuarter: at a 1/4 DCT scale a progressive JPEG decoded without the scans
// pruneScans drops is close to the full 1/4 decode, from a much smaller stream.
func TestPruneScansQuarter(t *testing.T) {
	src := corpusFile(t, "photos/FreshFlower.jpg") // progressive, libjpeg's usual scan script
	pruned, ok := pruneScans(src, scaleCoefficients[4])
	if !ok {
		t.Fatal("pruneScans refused a progressive JPEG")
	}
	if len(pruned) > len(src)*2/3 {
		t.Errorf("pruned stream is %d of %d bytes", len(pruned), len(src))
	}
	full, err := jpegn.Decode(bytes.NewReader(src), &jpegn.Options{ScaleDenom: 4})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := jpegn.Decode(bytes.NewReader(pruned), &jpegn.Options{ScaleDenom: 4})
	if err != nil {
		t.Fatal(err)
	}
	if d := meanAbsDiff(t, full, fast); d > 1.5 {
		t.Errorf("pruned 1/4 decode differs from the full one by %.3f levels", d)
	} else {
		t.Logf("pruned 1/4 decode: %d of %d bytes, mean difference %.3f levels", len(pruned), len(src), d)
	}
	if _, ok := pruneScans(src[:len(src)/2], 4); ok {
		t.Error("pruneScans accepted a truncated stream")
	}
}

func TestJPEGScale(t *testing.T) {
	tests := []struct {
		crop       image.Rectangle
		outW, outH int
		want       int
	}{
		// As libvips's thumbnail: the largest scale that leaves a reduction of at least 2×.
		{image.Rect(0, 0, 5640, 3172), 200, 112, 8},
		{image.Rect(0, 0, 5640, 3172), 400, 224, 4},
		{image.Rect(0, 0, 5640, 3172), 1600, 899, 1},
		{image.Rect(0, 0, 5640, 3172), 1410, 793, 2},
		{image.Rect(0, 0, 5640, 3172), 800, 449, 2},
		{image.Rect(0, 0, 1000, 1000), 1000, 1000, 1},
		{image.Rect(0, 0, 1000, 1000), 2000, 2000, 1},
		{image.Rect(0, 0, 1000, 1000), 130, 100, 2},
		{image.Rect(0, 0, 1000, 1000), 62, 62, 8},
	}
	for _, tt := range tests {
		if got := jpegScale(tt.crop, tt.outW, tt.outH); got != tt.want {
			t.Errorf("jpegScale(%v, %dx%d) = %d, want %d", tt.crop, tt.outW, tt.outH, got, tt.want)
		}
	}
}

func TestAlpha(t *testing.T) {
	src := corpusFile(t, "png/Arc-Colors-Transparent-Wallpaper.png")
	orig, err := imaging.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	o := imaging.Clone(orig)
	// Sample points in smooth areas: fully transparent ones, and partly opaque ones whose
	// flattened colour is predictable.
	var clear image.Point
	var partial []image.Point
	foundClear := false
	for y := 8; y < o.Rect.Dy()-8; y += 37 {
		for x := 8; x < o.Rect.Dx()-8; x += 37 {
			if !smooth(o, x, y) {
				continue
			}
			switch a := o.NRGBAAt(x, y).A; {
			case a == 0 && !foundClear:
				clear, foundClear = image.Pt(x, y), true
			case a >= 64 && len(partial) < 20:
				partial = append(partial, image.Pt(x, y))
			}
		}
	}
	if !foundClear || len(partial) < 3 {
		t.Fatalf("corpus image: clear area %v, %d partly opaque areas", foundClear, len(partial))
	}
	near := func(c color.NRGBA, want [3]float64) bool {
		for i, v := range []uint8{c.R, c.G, c.B} {
			if d := float64(v) - want[i]; d > 8 || d < -8 {
				return false
			}
		}
		return true
	}
	over := func(c color.NRGBA, bg float64) [3]float64 {
		a := float64(c.A) / 255
		return [3]float64{float64(c.R)*a + bg*(1-a), float64(c.G)*a + bg*(1-a), float64(c.B)*a + bg*(1-a)}
	}

	for _, tt := range []struct {
		spec string
		bg   float64
	}{{"format-jpeg", 255}, {"format-jpeg|bgcolor-000", 0}, {"format-jpeg|bgcolor-FFFFFF", 255}} {
		t.Run(tt.spec, func(t *testing.T) {
			_, out := generate(t, src, tt.spec, nil)
			img := decodeOutput(t, out, JPEG)
			if c := nrgbaAt(img, clear.X, clear.Y); !near(c, [3]float64{tt.bg, tt.bg, tt.bg}) {
				t.Errorf("transparent area became %v, want %v", c, tt.bg)
			}
			for _, p := range partial {
				want := over(o.NRGBAAt(p.X, p.Y), tt.bg)
				if c := nrgbaAt(img, p.X, p.Y); !near(c, want) {
					t.Errorf("at %v: %v over %v gave %v, want %.0f", p, o.NRGBAAt(p.X, p.Y), tt.bg, c, want)
				}
			}
		})
	}
	scaled := func(p image.Point) (int, int) { return p.X * 400 / o.Rect.Dx(), p.Y * 400 / o.Rect.Dx() }
	cx, cy := scaled(clear)
	t.Run("png on bgcolor-f00 is opaque", func(t *testing.T) {
		_, out := generate(t, src, "width-400|bgcolor-f00", nil)
		img := decodeOutput(t, out, PNG)
		if c := nrgbaAt(img, cx, cy); c != (color.NRGBA{255, 0, 0, 255}) {
			t.Errorf("transparent area became %v, want opaque red", c)
		}
		if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
			t.Error("output has transparency")
		}
	})
	t.Run("png keeps alpha", func(t *testing.T) {
		_, out := generate(t, src, "width-400", nil)
		img := decodeOutput(t, out, PNG)
		if c := nrgbaAt(img, cx, cy); c.A != 0 {
			t.Errorf("transparent area has alpha %d", c.A)
		}
		for _, p := range partial {
			x, y := scaled(p)
			if got, want := int(nrgbaAt(img, x, y).A), int(o.NRGBAAt(p.X, p.Y).A); got < want-12 || got > want+12 {
				t.Errorf("alpha at %v is %d, want about %d", p, got, want)
			}
		}
	})
	t.Run("gif is flattened on white", func(t *testing.T) {
		_, out := generate(t, src, "width-400|format-gif", nil)
		img := decodeOutput(t, out, GIF)
		if c := nrgbaAt(img, cx, cy); c.A != 255 || c.R < 230 || c.G < 230 || c.B < 230 {
			t.Errorf("transparent area became %v, want opaque white", c)
		}
	})
}

// smooth reports whether the 17×17 block around (x, y) varies by at most 3 levels in every
// channel.
func smooth(img *image.NRGBA, x, y int) bool {
	c0 := img.NRGBAAt(x, y)
	for dy := -8; dy <= 8; dy++ {
		for dx := -8; dx <= 8; dx++ {
			c := img.NRGBAAt(x+dx, y+dy)
			for _, d := range []int{int(c.R) - int(c0.R), int(c.G) - int(c0.G), int(c.B) - int(c0.B), int(c.A) - int(c0.A)} {
				if d > 3 || d < -3 {
					return false
				}
			}
		}
	}
	return true
}

func TestNoMetadataCopied(t *testing.T) {
	src := corpusFile(t, "photos/Wood.jpg")
	if !bytes.Contains(src[:64<<10], []byte("Exif\x00\x00")) {
		t.Fatal("Wood.jpg has no EXIF to test with")
	}
	for _, spec := range []string{"width-400", "original|jpegquality-60", "fill-100x100|format-png"} {
		_, out := generate(t, src, spec, nil)
		for _, marker := range []string{"Exif\x00\x00", "http://ns.adobe.com/xap", "ICC_PROFILE", "eXIf", "tEXt", "iCCP"} {
			if bytes.Contains(out, []byte(marker)) {
				t.Errorf("%s: output carries %q", spec, marker)
			}
		}
	}
}

func TestJPEGOutput(t *testing.T) {
	src := corpusFile(t, "photos/LadyBird.jpg")
	_, low := generate(t, src, "width-600|jpegquality-30", nil)
	p, high := generate(t, src, "width-600|jpegquality-95", nil)
	if len(low) >= len(high) {
		t.Errorf("quality 30 gives %d bytes, quality 95 %d", len(low), len(high))
	}
	if p.Quality != 95 {
		t.Errorf("plan quality %d", p.Quality)
	}
	// progressive: a SOF2 frame header
	if !bytes.Contains(high[:1024], []byte{0xFF, 0xC2}) {
		t.Error("output is not a progressive JPEG")
	}
	// Options' default quality is used when the spec sets none.
	var out bytes.Buffer
	opts := DefaultOptions()
	opts.JPEGQuality = 40
	p, err := Generate(context.Background(), bytes.NewReader(src), MustParse("width-600"), nil, opts, &out)
	if err != nil || p.Quality != 40 {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if out.Len() >= len(high) {
		t.Errorf("Options.JPEGQuality 40 gives %d bytes", out.Len())
	}
}

func TestGenerateSources(t *testing.T) {
	g := image.NewPaletted(image.Rect(0, 0, 60, 40), color.Palette{color.Transparent, color.NRGBA{200, 10, 10, 255}})
	for i := range g.Pix {
		g.Pix[i] = uint8(i % 2)
	}
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, g, nil); err != nil {
		t.Fatal(err)
	}
	// An animated GIF whose first frame covers only part of the screen.
	anim := &gif.GIF{
		Image:  []*image.Paletted{subPaletted(g, image.Rect(10, 10, 30, 30)), g},
		Delay:  []int{10, 10},
		Config: image.Config{Width: 60, Height: 40, ColorModel: g.Palette},
	}
	var animBuf bytes.Buffer
	if err := gif.EncodeAll(&animBuf, anim); err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, 90, 60))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	deep := image.NewNRGBA64(image.Rect(0, 0, 90, 60))
	for i := range deep.Pix {
		deep.Pix[i] = uint8(i * 7)
	}
	tests := []struct {
		name, spec string
		src        []byte
		format     Format
		w, h       int
	}{
		{"gray jpeg", "width-45", encodeJPEGBytes(t, gray, 90), JPEG, 45, 30},
		{"gray jpeg original", "original", encodeJPEGBytes(t, gray, 90), JPEG, 90, 60},
		{"16-bit png", "width-45", encodePNGBytes(t, deep), PNG, 45, 30},
		{"16-bit png to jpeg", "original|format-jpeg", encodePNGBytes(t, deep), JPEG, 90, 60},
		{"paletted png", "original", encodePNGBytes(t, g), PNG, 60, 40},
		{"paletted png to jpeg", "fill-20x20|format-jpeg", encodePNGBytes(t, g), JPEG, 20, 20},
		{"gif to png", "width-30", gifBuf.Bytes(), PNG, 30, 20},
		{"gif original", "original", gifBuf.Bytes(), PNG, 60, 40},
		{"animated gif first frame", "original", animBuf.Bytes(), PNG, 60, 40},
		{"gif to gif", "width-30|format-gif", gifBuf.Bytes(), GIF, 30, 20},
		{"webp lossy", "width-300|format-png", corpusFile(t, "webp/truchet-d.webp"), PNG, 300, 300},
		{"webp small", "fill-100x50|format-jpeg", corpusFile(t, "webp/vnc-d.webp"), JPEG, 100, 50},
		{"png rgb", "max-200x200", corpusFile(t, "png/Sway_Wallpaper_Blue_1920x1080.png"), PNG, 200, 112},
		{"png to jpeg", "height-100|format-jpeg", corpusFile(t, "png/Spring.png"), JPEG, 133, 100},
		{"jpeg crop no resize", "fill-1000x1000", corpusFile(t, "photos/FreshFlower.jpg"), JPEG, 1000, 1000},
		{"jpeg scale up", "scale-150", corpusFile(t, "orientation/upright.jpg"), JPEG, 960, 600},
		{"jpeg min", "min-300x300", corpusFile(t, "photos/Garden.jpg"), JPEG, 480, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, out := generate(t, tt.src, tt.spec, nil)
			img := decodeOutput(t, out, tt.format)
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h || p.Width != tt.w || p.Height != tt.h {
				t.Fatalf("output %v, plan %dx%d, want %dx%d", b, p.Width, p.Height, tt.w, tt.h)
			}
		})
	}
}

func subPaletted(p *image.Paletted, r image.Rectangle) *image.Paletted {
	return p.SubImage(r).(*image.Paletted)
}

func TestGenerateWriteError(t *testing.T) {
	src := encodeJPEGBytes(t, gradient(64, 64), 90)
	boom := errors.New("disk full")
	_, err := Generate(context.Background(), bytes.NewReader(src), MustParse("width-32"), nil, DefaultOptions(), errWriter{boom})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the write error", err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

func TestEstimateDecodeBytes(t *testing.T) {
	// The estimate must cover what Generate really allocates (a loose upper bound on peak).
	for _, tt := range []struct{ file, spec string }{
		{"large/Elephants_5640x3172.jpg", "width-400"}, // skipped when absent (see largeCorpusFile)
		{"photos/FreshFlower.jpg", "width-400"},        // progressive
		{"photos/Garden.jpg", "width-1600"},
		{"png/Spring.png", "width-400"},
	} {
		t.Run(tt.file+"/"+tt.spec, func(t *testing.T) {
			src := corpusFile(t, tt.file)
			info, err := Inspect(bytes.NewReader(src), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			s := MustParse(tt.spec)
			plan, err := s.Plan(info.Width, info.Height, info.Format, nil, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			est := EstimateDecodeBytes(info, plan)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := Generate(context.Background(), bytes.NewReader(src), s, nil, DefaultOptions(), io.Discard); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			total := after.TotalAlloc - before.TotalAlloc
			t.Logf("estimate %d MB, allocated %d MB per Generate", est>>20, total>>20)
			if est < int64(total)*7/10 {
				t.Errorf("estimate %d is far below the %d bytes allocated", est, total)
			}
		})
	}
}

// TestWebPAVIFOutput: both encoders are always registered; each writes what its spec asks.
func TestWebPAVIFOutput(t *testing.T) {
	photo := corpusFile(t, "photos/LadyBird.jpg")
	alpha := corpusFile(t, "png/Arc-Colors-Transparent-Wallpaper.png")
	t.Run("webp", func(t *testing.T) {
		_, low := generate(t, photo, "fill-300x300|format-webp|webpquality-20", nil)
		_, high := generate(t, photo, "fill-300x300|format-webp|webpquality-95", nil)
		if decodeOutput(t, high, WebP).Bounds().Size() != image.Pt(300, 300) || len(low) >= len(high) {
			t.Errorf("quality 20: %d bytes, 95: %d bytes", len(low), len(high))
		}
		// WebP source stays WebP.
		p, out := generate(t, corpusFile(t, "webp/vnc-d.webp"), "width-100", nil)
		if p.Format != WebP || decodeOutput(t, out, WebP).Bounds().Dx() != 100 {
			t.Errorf("WebP source gave %s", p.Format)
		}
		// Lossless keeps every pixel, alpha included.
		src := imaging.Clone(gradient(64, 48))
		src.Pix[3] = 0
		src.Pix[7] = 128
		_, out = generate(t, encodePNGBytes(t, src), "format-webp-lossless", nil)
		got := imaging.Clone(decodeOutput(t, out, WebP))
		if !bytes.Equal(got.Pix[8:], src.Pix[8:]) || got.Pix[7] != 128 || got.Pix[3] != 0 {
			t.Error("lossless WebP changed pixels")
		}
		// Lossy keeps alpha too.
		_, out = generate(t, alpha, "width-400|format-webp", nil)
		if o, ok := decodeOutput(t, out, WebP).(interface{ Opaque() bool }); ok && o.Opaque() {
			t.Error("WebP output lost its transparency")
		}
	})
	t.Run("avif", func(t *testing.T) {
		_, out := generate(t, photo, "fill-300x300|format-avif", nil)
		if len(out) < 12 || string(out[4:12]) != "ftypavif" {
			t.Errorf("AVIF output starts %q", out[:min(len(out), 12)])
		}
	})
}

func TestGenerateReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, name := range []string{"photos/Garden.jpg", "png/Spring.png"} {
		src := corpusFile(t, name)
		r := io.MultiReader(bytes.NewReader(src[:len(src)/2]), errReader{boom})
		_, err := Generate(context.Background(), r, MustParse("width-100"), nil, DefaultOptions(), io.Discard)
		if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want the read error and not ErrCorrupt", name, err)
		}
	}
}
