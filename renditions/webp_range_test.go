package renditions

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// webpRangeDir holds what dwebp (libwebp 1.2.4) makes of the lossy WebP files: whole decodes
// as PNG for the small ones, the per-channel means and extremes for the 4096×4096 one (its
// PNG is 5 MB). -update remakes them with dwebp.
const webpRangeDir = "testdata/colour/webp"

// TestWebPRange: a lossy WebP is limited-range BT.601; black must come out 0 and white 255
// (±1), and every channel's mean within ±1 of dwebp's, on the corpus WebP files and on the
// colour chart (which has pure black and white patches) encoded lossy.
func TestWebPRange(t *testing.T) {
	chart := filepath.Join(webpRangeDir, "chart-lossy.webp")
	if *update {
		if err := os.MkdirAll(webpRangeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		png := filepath.Join(t.TempDir(), "chart.png")
		writeChartPNG(t, png)
		runTool(t, "cwebp", "-quiet", "-q", "90", png, "-o", chart)
	}
	for _, src := range []string{
		chart,
		filepath.Join(testdataDir(t), "corpus", "webp", "vnc-d.webp"),
		filepath.Join(testdataDir(t), "corpus", "webp", "truchet-d.webp"),
	} {
		render := func(t *testing.T, data []byte) image.Image { return renderToImage(t, data, "format-png") }
		if strings.HasPrefix(filepath.Base(src), "truchet") {
			render = func(t *testing.T, data []byte) image.Image {
				s, err := Parse("fill-1024x1024-c100|format-png", DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				focal := &FocalPoint{X: 2048, Y: 2048, Width: 1024, Height: 1024}
				plan, err := Generate(context.Background(), bytes.NewReader(data), s, focal, Options{}, &out)
				if err != nil {
					t.Fatal(err)
				}
				if plan.Crop != bigWebPCrop || plan.Resizes() {
					t.Fatalf("plan %+v, want the crop %v unresized", plan, bigWebPCrop)
				}
				return decodePNGBytes(t, out.Bytes())
			}
		}
		name := strings.TrimSuffix(filepath.Base(src), ".webp")
		t.Run(name, func(t *testing.T) {
			refPNG := filepath.Join(webpRangeDir, name+".dwebp.png")
			refStats := filepath.Join(webpRangeDir, name+".dwebp.txt")
			if *update {
				tmp := filepath.Join(t.TempDir(), "d.png")
				runTool(t, "dwebp", "-quiet", src, "-o", tmp)
				ref := decodePNGFile(t, tmp)
				if ref.Bounds().Dx() > 1024 {
					ref = ref.(interface {
						SubImage(image.Rectangle) image.Image
					}).SubImage(bigWebPCrop)
				}
				if err := os.WriteFile(refStats, []byte(channelStats(ref).String()), 0o644); err != nil {
					t.Fatal(err)
				}
				if ref.Bounds().Dx()*ref.Bounds().Dy() <= 512*512 {
					if err := os.WriteFile(refPNG, readTestFile(t, tmp), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := render(t, readTestFile(t, src))
			gs := channelStats(got)
			var want webpStats
			if _, err := fmt.Sscan(string(readTestFile(t, refStats)), &want.mean[0], &want.mean[1], &want.mean[2],
				&want.min[0], &want.min[1], &want.min[2], &want.max[0], &want.max[1], &want.max[2]); err != nil {
				t.Fatalf("%s: %v", refStats, err)
			}
			t.Logf("veil  %s", gs)
			t.Logf("dwebp %s", want)
			for c := range 3 {
				if d := gs.mean[c] - want.mean[c]; math.Abs(d) > 1 {
					t.Errorf("channel %d: mean %.2f, dwebp %.2f", c, gs.mean[c], want.mean[c])
				}
				// Black and white (not merely the darkest and lightest values, which ringing
				// and chroma upsampling move) must come out as dwebp's.
				if want.min[c] == 0 && gs.min[c] > 1 {
					t.Errorf("channel %d: darkest %d, dwebp 0", c, gs.min[c])
				}
				if want.max[c] == 255 && gs.max[c] < 254 {
					t.Errorf("channel %d: lightest %d, dwebp 255", c, gs.max[c])
				}
			}
			if _, err := os.Stat(refPNG); err == nil {
				// Go's 4:2:0 chroma is nearest-neighbour, dwebp's "fancy" (bilinear), so colour
				// edges differ by a few levels; inside the chart's flat patches they must agree.
				ref := decodePNGFile(t, refPNG)
				t.Logf("mean absolute error against dwebp: %.3f", meanAbsError(got, ref))
				if name == "chart-lossy" {
					// Rescaling the planes rounds twice, so single pixels can be 2 levels off.
					worst, mean := chartDeltaE(t, got, ref)
					t.Logf("patch interiors: ΔE2000 against dwebp max %.2f, mean %.2f", worst, mean)
					if mean > 1 {
						t.Errorf("patch interiors: mean ΔE2000 %.2f from dwebp's, want ≤ 1", mean)
					}
				}
			}
			if name == "chart-lossy" { // the pure black and white patches of the chart
				for _, p := range []struct {
					i    int
					want uint8
				}{{0, 0}, {124, 255}} {
					c := color.NRGBAModel.Convert(got.At(p.i%16*chartPatch+8, p.i/16*chartPatch+8)).(color.NRGBA)
					for _, v := range []uint8{c.R, c.G, c.B} {
						if d := int(v) - int(p.want); d < -1 || d > 1 {
							t.Errorf("patch %d is %d,%d,%d, want %d±1", p.i, c.R, c.G, c.B, p.want)
							break
						}
					}
				}
			}
		})
	}
}

// bigWebPCrop is the part of a large WebP compared (rendering all 4096×4096 as PNG takes
// most of a minute here): 1024×1024 from the middle, cut without resizing by
// fill-1024x1024-c100 around a focal point of that size.
var bigWebPCrop = image.Rect(1536, 1536, 2560, 2560)

type webpStats struct {
	mean     [3]float64
	min, max [3]uint8
}

func (s webpStats) String() string {
	return fmt.Sprintf("%.3f %.3f %.3f %d %d %d %d %d %d\n", s.mean[0], s.mean[1], s.mean[2],
		s.min[0], s.min[1], s.min[2], s.max[0], s.max[1], s.max[2])
}

func channelStats(img image.Image) webpStats {
	b := img.Bounds()
	s := webpStats{min: [3]uint8{255, 255, 255}}
	var sum [3]float64
	if n, ok := img.(*image.NRGBA); ok { // the PNG decoder's type for these; 16 MP is slow via At
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := n.Pix[n.PixOffset(b.Min.X, y):][:4*b.Dx()]
			for i := 0; i < len(row); i += 4 {
				for c := range 3 {
					v := row[i+c]
					sum[c] += float64(v)
					s.min[c], s.max[c] = min(s.min[c], v), max(s.max[c], v)
				}
			}
		}
	} else {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				for i, v := range []uint8{c.R, c.G, c.B} {
					sum[i] += float64(v)
					s.min[i], s.max[i] = min(s.min[i], v), max(s.max[i], v)
				}
			}
		}
	}
	n := float64(b.Dx() * b.Dy())
	for i := range 3 {
		s.mean[i] = sum[i] / n
	}
	return s
}

func meanAbsError(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			ca := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += math.Abs(float64(ca.R)-float64(cb.R)) + math.Abs(float64(ca.G)-float64(cb.G)) + math.Abs(float64(ca.B)-float64(cb.B))
		}
	}
	return sum / float64(3*ab.Dx()*ab.Dy())
}

func decodePNGBytes(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
