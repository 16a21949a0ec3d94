package renditions

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The colour goldens live in renditions/testdata/colour: a test chart embedded with real
// profiles in each way a source can carry one, and for each the lcms2 conversion of the whole
// source to sRGB, made by libvips (vips icc_transform … srgb --embedded --intent perceptual
// --black-point-compensation). -update remakes both; it needs vips, cwebp and webpmux. The
// profiles and their licences are in that folder (README.md there says where each comes from).

const colourDir = "testdata/colour"

// chartPatch is the side of a chart patch: a whole 4:2:0 JPEG MCU, so each patch decodes flat
// in any decoder.
const chartPatch = 16

// colourChart is 16×8 patches: the 125 colours of a 5-level RGB cube, then the red of issue
// #10 (Adobe RGB 220,40,40), a skin tone and a near-black brown.
func colourChart() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 16*chartPatch, 8*chartPatch))
	levels := []uint8{0, 64, 128, 192, 255}
	var colours []color.NRGBA
	for _, r := range levels {
		for _, g := range levels {
			for _, b := range levels {
				colours = append(colours, color.NRGBA{r, g, b, 255})
			}
		}
	}
	colours = append(colours, color.NRGBA{220, 40, 40, 255}, color.NRGBA{224, 172, 140, 255}, color.NRGBA{20, 10, 5, 255})
	for i, c := range colours {
		px, py := i%16*chartPatch, i/16*chartPatch
		for y := py; y < py+chartPatch; y++ {
			for x := px; x < px+chartPatch; x++ {
				img.SetNRGBA(x, y, c)
			}
		}
	}
	return img
}

// colourSource is one tagged source of the chart and how -update makes it.
type colourSource struct {
	name   string // file in colourDir
	make   func(t *testing.T, dir, out string)
	refArg []string // extra vips icc_transform arguments for the reference
}

var colourSources = []colourSource{
	{name: "adobergb.jpg", make: jpegWithProfile("adobergb.icc")},
	{name: "prophoto.jpg", make: jpegWithProfile("prophoto.icc")},
	{name: "srgb.jpg", make: jpegWithProfile("srgb.icc")},
	{name: "displayp3.png", make: pngWithChunk("iCCP", func(t *testing.T, dir string) []byte {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(readTestFile(t, filepath.Join(dir, "displayp3-v4.icc")))
		zw.Close()
		return append([]byte("Display P3\x00\x00"), z.Bytes()...)
	})},
	{name: "displayp3.webp", make: func(t *testing.T, dir, out string) {
		png := filepath.Join(t.TempDir(), "chart.png")
		writeChartPNG(t, png)
		plain := filepath.Join(t.TempDir(), "plain.webp")
		runTool(t, "cwebp", "-quiet", "-lossless", "-exact", png, "-o", plain)
		runTool(t, "webpmux", "-set", "icc", filepath.Join(dir, "displayp3-v4.icc"), plain, "-o", out)
	}},
	{name: "gamma18.png", make: pngWithChunk("gAMA", func(*testing.T, string) []byte {
		return binary.BigEndian.AppendUint32(nil, 55556)
	}), refArg: []string{"--input-profile", "gamma18.icc"}},
	{name: "gray-lstar.jpg", make: func(t *testing.T, dir, out string) {
		// A grey JPEG (one component) whose profile's curve is L*, not sRGB's.
		chart := colourChart()
		grey := image.NewGray(chart.Bounds())
		draw.Draw(grey, grey.Bounds(), chart, image.Point{}, draw.Src)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, grey, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		icc := readTestFile(t, filepath.Join(dir, "gray-lstar.icc"))
		if err := os.WriteFile(out, withAPP2(buf.Bytes(), [][]byte{app2Chunk(1, 1, icc)}), 0o644); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "adobergb-paletted.png", make: func(t *testing.T, dir, out string) {
		// A paletted PNG: an unresized rendition is converted through its palette.
		chart := colourChart()
		var pal color.Palette
		seen := map[color.NRGBA]bool{}
		for i := 0; i < len(chart.Pix); i += 4 {
			c := color.NRGBA{chart.Pix[i], chart.Pix[i+1], chart.Pix[i+2], 255}
			if !seen[c] {
				seen[c] = true
				pal = append(pal, c)
			}
		}
		p := image.NewPaletted(chart.Bounds(), pal)
		draw.Draw(p, p.Bounds(), chart, image.Point{}, draw.Src)
		var buf, z bytes.Buffer
		if err := png.Encode(&buf, p); err != nil {
			t.Fatal(err)
		}
		zw := zlib.NewWriter(&z)
		zw.Write(readTestFile(t, filepath.Join(dir, "adobergb.icc")))
		zw.Close()
		iccp := append([]byte("Adobe RGB\x00\x00"), z.Bytes()...)
		if err := os.WriteFile(out, insertPNGChunk(buf.Bytes(), "iCCP", iccp), 0o644); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "cmyk-v2.jpg", make: cmykJPEG("cmyk-v2.icc")},
	{name: "cmyk-v4.jpg", make: cmykJPEG("cmyk-v4.icc")},
}

// TestColourManaged renders each tagged source and checks every patch against lcms2's
// conversion: CIEDE2000 at most 1.0 everywhere inside the patches, at full size and resized.
func TestColourManaged(t *testing.T) {
	dir, err := filepath.Abs(colourDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range colourSources {
		t.Run(src.name, func(t *testing.T) {
			path := filepath.Join(dir, src.name)
			ref := path + ".lcms.png"
			if *update {
				src.make(t, dir, path)
				args := append([]string{"icc_transform", path, ref, "srgb", "--embedded",
					"--intent", "perceptual", "--black-point-compensation"}, src.refArg...)
				cmd := exec.Command("vips", args...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("vips: %v\n%s", err, out)
				}
			}
			want := decodePNGFile(t, ref)
			data := readTestFile(t, path)
			// The three renditions start together (a barrier, not a sleep), so the first use of
			// the profile builds its cached table from three goroutines at once (run with -race).
			specs := []string{"format-png", "width-128|format-png", "fill-64x64|format-png"}
			results := make([]image.Image, len(specs))
			errs := make([]error, len(specs))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, spec := range specs {
				wg.Go(func() {
					<-start
					results[i], errs[i] = renderPNG(data, spec, Limits{})
				})
			}
			close(start)
			wg.Wait()
			for i, spec := range specs {
				if errs[i] != nil {
					t.Errorf("%s: %v", spec, errs[i])
					continue
				}
				got := results[i]
				worst, mean := chartDeltaE(t, got, want)
				t.Logf("%s %s: ΔE2000 max %.2f mean %.2f", src.name, spec, worst, mean)
				if worst > 1.0 {
					t.Errorf("%s %s: ΔE2000 up to %.2f against lcms2, want ≤ 1.0", src.name, spec, worst)
				}
			}
		})
	}
}

// TestColourIssueRed is issue #10's example: 220,40,40 in an Adobe RGB JPEG is lcms2's
// 255,35,35 in sRGB, not 188,44,44.
func TestColourIssueRed(t *testing.T) {
	got := renderToImage(t, readTestFile(t, filepath.Join(colourDir, "adobergb.jpg")), "format-png")
	i := 125 // the patch index of 220,40,40
	c := color.NRGBAModel.Convert(got.At(i%16*chartPatch+8, i/16*chartPatch+8)).(color.NRGBA)
	want := color.NRGBA{255, 35, 35, 255}
	if d := deltaE2000(c, want); d > 1 {
		t.Errorf("Adobe RGB 220,40,40 renders as %d,%d,%d: ΔE2000 %.2f from lcms2's 255,35,35", c.R, c.G, c.B, d)
	}
}

// TestColourIgnoredProfiles: profiles that are broken, truncated, hostile or do not fit the
// pixels are ignored (the pixels are taken as sRGB, as libvips does), never an error or a
// panic, and an sRGB profile changes nothing.
func TestColourIgnoredProfiles(t *testing.T) {
	plain := chartJPEG(t)
	want := renderToImage(t, plain, "format-png")
	adobe := readTestFile(t, filepath.Join(colourDir, "adobergb.icc"))
	cmyk := readTestFile(t, filepath.Join(colourDir, "cmyk-v2.icc"))
	garbage := bytes.Repeat([]byte{0xA5, 0x00, 0xFF, 0x13}, 300)
	hugeCLUT := append([]byte(nil), cmyk...)
	for i := 0; i+4 <= len(hugeCLUT); i += 97 { // corrupt sizes, offsets and grid points alike
		hugeCLUT[i] = 0xFF
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"srgb profile", readTestFile(t, filepath.Join(colourDir, "srgb.jpg"))},
		{"truncated profile", withAPP2(plain, [][]byte{app2Chunk(1, 1, adobe[:500])})},
		{"missing chunk", withAPP2(plain, [][]byte{app2Chunk(2, 2, adobe)})},
		{"chunk beyond count", withAPP2(plain, [][]byte{app2Chunk(3, 2, adobe)})},
		{"duplicate chunk", withAPP2(plain, [][]byte{app2Chunk(1, 2, adobe[:9000]), app2Chunk(1, 2, adobe[9000:])})},
		{"zero count", withAPP2(plain, [][]byte{app2Chunk(0, 0, adobe)})},
		{"garbage", withAPP2(plain, [][]byte{app2Chunk(1, 1, garbage)})},
		{"CMYK profile on RGB", withAPP2(plain, [][]byte{app2Chunk(1, 1, cmyk)})},
		{"corrupted LUT profile", withAPP2(plain, [][]byte{app2Chunk(1, 1, hugeCLUT)})},
		{"header only", withAPP2(plain, [][]byte{app2Chunk(1, 1, adobe[:128])})},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := renderToImage(t, c.data, "format-png")
			if worst, _ := chartDeltaE(t, got, want); worst > 1.0 {
				t.Errorf("ΔE2000 up to %.2f from the untagged rendering: the profile was not ignored", worst)
			}
		})
	}
	// A PNG whose iCCP does not inflate, one whose iCCP inflates to 64 MiB (the profile cap is
	// 8 MiB), and one whose gAMA is absurd.
	var bomb bytes.Buffer
	zw := zlib.NewWriter(&bomb)
	zw.Write(make([]byte, 64<<20))
	zw.Close()
	for name, chunk := range map[string][2]string{
		"bad iCCP":  {"iCCP", "name\x00\x00not zlib"},
		"iCCP bomb": {"iCCP", "bomb\x00\x00" + bomb.String()},
		"gAMA 0":    {"gAMA", "\x00\x00\x00\x00"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := png.Encode(&buf, colourChart()); err != nil {
				t.Fatal(err)
			}
			got := renderToImage(t, insertPNGChunk(buf.Bytes(), chunk[0], []byte(chunk[1])), "format-png")
			if worst, _ := chartDeltaE(t, got, colourChart()); worst > 1.0 {
				t.Errorf("ΔE2000 up to %.2f from the chart: the chunk was not ignored", worst)
			}
		})
	}
}

// TestColourIgnoredWebPProfile: a WebP whose ICCP chunk is garbage renders as untagged.
func TestColourIgnoredWebPProfile(t *testing.T) {
	data := readTestFile(t, filepath.Join(colourDir, "displayp3.webp"))
	i := bytes.Index(data, []byte("ICCP"))
	if i < 0 {
		t.Fatal("no ICCP chunk")
	}
	size := int(binary.LittleEndian.Uint32(data[i+4:]))
	bad := append([]byte(nil), data...)
	for j := i + 8; j < i+8+size; j++ {
		bad[j] = 0xA5
	}
	got := renderToImage(t, bad, "format-png")
	if worst, _ := chartDeltaE(t, got, colourChart()); worst > 1.0 {
		t.Errorf("ΔE2000 up to %.2f from the chart: the broken profile was not ignored", worst)
	}
}

// renderToImage runs Generate and decodes its PNG output.
func renderToImage(t testing.TB, data []byte, spec string) image.Image {
	t.Helper()
	return renderWithLimits(t, data, spec, Limits{})
}

func renderWithLimits(t testing.TB, data []byte, spec string, lim Limits) image.Image {
	t.Helper()
	img, err := renderPNG(data, spec, lim)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// renderPNG is renderToImage for goroutines other than the test's.
func renderPNG(data []byte, spec string, lim Limits) (image.Image, error) {
	s, err := Parse(spec, lim.withDefaults())
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if _, err := Generate(context.Background(), bytes.NewReader(data), s, nil, Options{Limits: lim}, &out); err != nil {
		return nil, fmt.Errorf("Generate %s: %w", spec, err)
	}
	return png.Decode(&out)
}

// chartDeltaE compares the inside of every chart patch of got (a chart rendered at any size
// with the chart's aspect, or a centred crop of it) with the centre of the same patch in want
// (full size). It returns the largest and the mean CIEDE2000.
func chartDeltaE(t testing.TB, got, want image.Image) (worst, mean float64) {
	t.Helper()
	gb, wb := got.Bounds(), want.Bounds()
	// got shows want's columns [x0, x0+span) scaled by s.
	s := float64(gb.Dy()) / float64(wb.Dy())
	span := float64(gb.Dx()) / s
	x0 := (float64(wb.Dx()) - span) / 2
	n := 0
	for py := 0; py < wb.Dy()/chartPatch; py++ {
		for px := 0; px < wb.Dx()/chartPatch; px++ {
			wc := color.NRGBAModel.Convert(want.At(px*chartPatch+chartPatch/2, py*chartPatch+chartPatch/2)).(color.NRGBA)
			// The patch in got, inset by a quarter of its size (resampling reaches into it).
			l := (float64(px*chartPatch) - x0) * s
			r := l + chartPatch*s
			tp, bt := float64(py*chartPatch)*s, float64(py*chartPatch+chartPatch)*s
			// At least 3 output pixels when shrinking: Lanczos3's reach, whose lobes ring near
			// an edge.
			in := max(chartPatch*s/4, 3)
			if s == 1 {
				in = 2 // JPEG decoders differ only where chroma is upsampled across patch edges
			}
			for y := int(math.Ceil(tp + in)); y < int(bt-in); y++ {
				for x := max(int(math.Ceil(l+in)), 0); x < min(int(r-in), gb.Dx()); x++ {
					gc := color.NRGBAModel.Convert(got.At(gb.Min.X+x, gb.Min.Y+y)).(color.NRGBA)
					d := deltaE2000(gc, wc)
					worst = max(worst, d)
					mean += d
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("no patch pixels compared (%v against %v)", gb, wb)
	}
	return worst, mean / float64(n)
}

// deltaE2000 is the CIEDE2000 colour difference of two sRGB colours (Sharma, Wu and Dalal's
// formulation), with Lab relative to D65.
func deltaE2000(a, b color.NRGBA) float64 {
	l1, a1, b1 := srgbToLab(a)
	l2, a2, b2 := srgbToLab(b)
	deg := math.Pi / 180
	c1, c2 := math.Hypot(a1, b1), math.Hypot(a2, b2)
	cm := (c1 + c2) / 2
	g := 0.5 * (1 - math.Sqrt(math.Pow(cm, 7)/(math.Pow(cm, 7)+math.Pow(25, 7))))
	a1p, a2p := (1+g)*a1, (1+g)*a2
	c1p, c2p := math.Hypot(a1p, b1), math.Hypot(a2p, b2)
	hp := func(b, ap float64) float64 {
		if b == 0 && ap == 0 {
			return 0
		}
		h := math.Atan2(b, ap) / deg
		if h < 0 {
			h += 360
		}
		return h
	}
	h1p, h2p := hp(b1, a1p), hp(b2, a2p)
	dL, dC := l2-l1, c2p-c1p
	var dh float64
	switch {
	case c1p*c2p == 0:
		dh = 0
	case math.Abs(h2p-h1p) <= 180:
		dh = h2p - h1p
	case h2p-h1p > 180:
		dh = h2p - h1p - 360
	default:
		dh = h2p - h1p + 360
	}
	dH := 2 * math.Sqrt(c1p*c2p) * math.Sin(dh/2*deg)
	lm, cmp := (l1+l2)/2, (c1p+c2p)/2
	var hm float64
	switch {
	case c1p*c2p == 0:
		hm = h1p + h2p
	case math.Abs(h1p-h2p) <= 180:
		hm = (h1p + h2p) / 2
	case h1p+h2p < 360:
		hm = (h1p + h2p + 360) / 2
	default:
		hm = (h1p + h2p - 360) / 2
	}
	tt := 1 - 0.17*math.Cos((hm-30)*deg) + 0.24*math.Cos(2*hm*deg) + 0.32*math.Cos((3*hm+6)*deg) - 0.20*math.Cos((4*hm-63)*deg)
	dTheta := 30 * math.Exp(-math.Pow((hm-275)/25, 2))
	rc := 2 * math.Sqrt(math.Pow(cmp, 7)/(math.Pow(cmp, 7)+math.Pow(25, 7)))
	sl := 1 + 0.015*math.Pow(lm-50, 2)/math.Sqrt(20+math.Pow(lm-50, 2))
	sc := 1 + 0.045*cmp
	sh := 1 + 0.015*cmp*tt
	rt := -math.Sin(2*dTheta*deg) * rc
	return math.Sqrt(math.Pow(dL/sl, 2) + math.Pow(dC/sc, 2) + math.Pow(dH/sh, 2) + rt*(dC/sc)*(dH/sh))
}

func srgbToLab(c color.NRGBA) (l, a, b float64) {
	lin := func(v uint8) float64 {
		f := float64(v) / 255
		if f <= 0.04045 {
			return f / 12.92
		}
		return math.Pow((f+0.055)/1.055, 2.4)
	}
	r, g, bl := lin(c.R), lin(c.G), lin(c.B)
	x := (0.4124564*r + 0.3575761*g + 0.1804375*bl) / 0.95047
	y := 0.2126729*r + 0.7151522*g + 0.0721750*bl
	z := (0.0193339*r + 0.1191920*g + 0.9503041*bl) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

func TestDeltaE2000(t *testing.T) {
	// Pairs from Sharma, Wu and Dalal's test data are in Lab; here two sRGB checks: identical
	// colours are 0 apart, and black to white is 100 (the L* difference, at zero chroma).
	if d := deltaE2000(color.NRGBA{12, 200, 40, 255}, color.NRGBA{12, 200, 40, 255}); d != 0 {
		t.Errorf("same colour: %v", d)
	}
	if d := deltaE2000(color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 255, 255, 255}); math.Abs(d-100) > 0.01 {
		t.Errorf("black to white: %v, want 100", d)
	}
}

// ---- making the sources (-update) ----

func readTestFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePNGFile(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(readTestFile(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func writeChartPNG(t *testing.T, path string) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, colourChart()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func chartJPEG(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, colourChart(), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// app2Chunk is one APP2 ICC_PROFILE segment payload.
func app2Chunk(seq, count int, data []byte) []byte {
	return append([]byte{'I', 'C', 'C', '_', 'P', 'R', 'O', 'F', 'I', 'L', 'E', 0, byte(seq), byte(count)}, data...)
}

// withAPP2 inserts APP2 segments with the given payloads right after SOI.
func withAPP2(jpg []byte, payloads [][]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, p := range payloads {
		out = append(out, 0xFF, 0xE2, byte((len(p)+2)>>8), byte(len(p)+2))
		out = append(out, p...)
	}
	return append(out, jpg[2:]...)
}

func jpegWithProfile(profile string) func(t *testing.T, dir, out string) {
	return func(t *testing.T, dir, out string) {
		icc := readTestFile(t, filepath.Join(dir, profile))
		const max = 65519
		var chunks [][]byte
		count := (len(icc) + max - 1) / max
		for i := 0; i < count; i++ {
			chunks = append(chunks, app2Chunk(i+1, count, icc[i*max:min((i+1)*max, len(icc))]))
		}
		if err := os.WriteFile(out, withAPP2(chartJPEG(t), chunks), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func cmykJPEG(profile string) func(t *testing.T, dir, out string) {
	return func(t *testing.T, dir, out string) {
		tmp := t.TempDir()
		png, v := filepath.Join(tmp, "chart.png"), filepath.Join(tmp, "cmyk.v")
		writeChartPNG(t, png)
		icc := filepath.Join(dir, profile)
		runTool(t, "vips", "icc_transform", png, v, icc, "--input-profile", "srgb", "--intent", "perceptual")
		runTool(t, "vips", "jpegsave", v, out, "--Q", "95", "--profile", icc)
	}
}

// insertPNGChunk puts a chunk right after IHDR.
func insertPNGChunk(p []byte, kind string, data []byte) []byte {
	const ihdrEnd = 8 + 8 + 13 + 4
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, kind...)
	c = append(c, data...)
	c = binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	out := append([]byte(nil), p[:ihdrEnd]...)
	out = append(out, c...)
	return append(out, p[ihdrEnd:]...)
}

func pngWithChunk(kind string, data func(t *testing.T, dir string) []byte) func(t *testing.T, dir, out string) {
	return func(t *testing.T, dir, out string) {
		var buf bytes.Buffer
		if err := png.Encode(&buf, colourChart()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, insertPNGChunk(buf.Bytes(), kind, data(t, dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
