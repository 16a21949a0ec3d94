package renditions

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gen2brain/jpegn"
	"golang.org/x/image/webp"
)

// Sharpness thresholds of issue #10: against a Lanczos3 reduction of the full decode, a
// rendition (PNG, so encoding takes nothing away) has an SSIM of at least minSSIM and is not
// shifted by more than maxShift output pixels on either axis.
const (
	minSSIM  = 0.99
	maxShift = 0.1
	// minChromaSSIM bounds the colour detail lost: the lower of the SSIMs of the Cb and Cr planes.
	minChromaSSIM = 0.98
)

// qualitySources are the real photos of the corpus, and the large one when VEIL_LARGE_CORPUS
// names its folder.
func qualitySources(t *testing.T) []string {
	t.Helper()
	photos, err := filepath.Glob(filepath.Join(testdataDir(t), "corpus", "photos", "*.jpg"))
	if err != nil || len(photos) == 0 {
		t.Fatalf("no photos in the corpus: %v", err)
	}
	var srcs []string
	for _, p := range photos {
		srcs = append(srcs, "photos/"+filepath.Base(p))
	}
	if os.Getenv("VEIL_LARGE_CORPUS") != "" {
		srcs = append(srcs, largeCorpusName)
	}
	return srcs
}

// TestSharpness compares each rendition with a Lanczos3 reduction of the full-size decode of
// the same plan crop: SSIM (on luma, 11×11 Gaussian window) must be at least minSSIM and the
// estimated shift at most maxShift pixels. Run with -v for the table in the notes.
func TestSharpness(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes every corpus photo at full size")
	}
	var rows []string
	for _, name := range qualitySources(t) {
		jpg := corpusFile(t, name)
		full, jpgInfo := fullUpright(t, jpg)
		// The same pixels as a PNG, which has no shrink-on-load: its strong reductions go through
		// the box averaging of boxFactor.
		png := encodePNGBytes(t, full)
		// And as a lossy WebP, which libwebp shrinks while decoding (cgo builds); its reference
		// is its own full-size decode.
		lossy := encodeLossyWebP(t, full)
		for _, c := range []struct {
			name string
			src  []byte
			info Info
			full *image.NRGBA
		}{
			{filepath.Base(name), jpg, jpgInfo, full},
			{filepath.Base(name) + " as PNG", png, Info{Format: PNG}, full},
			{filepath.Base(name) + " as WebP", lossy, Info{Format: WebP, Channels: 3}, fullWebP(t, lossy)},
		} {
			for _, spec := range []string{"width-800", "fill-400x300", "width-200"} {
				t.Run(c.name+"/"+spec, func(t *testing.T) {
					plan, out := generate(t, c.src, spec+"|format-png", nil)
					got := decodeOutput(t, out, PNG)
					want := lanczos3Reference(c.full, plan.Crop, plan.Width, plan.Height)
					ssim := ssimLuma(luma(got), luma(want), plan.Width, plan.Height)
					dx, dy := shiftEstimate(luma(got), luma(want), plan.Width, plan.Height)
					gcb, gcr := chroma(got)
					wcb, wcr := chroma(want)
					cssim := min(ssimLuma(gcb, wcb, plan.Width, plan.Height), ssimLuma(gcr, wcr, plan.Width, plan.Height))
					rows = append(rows, fmt.Sprintf("%-31s %-13s %4dx%-4d %-9s  SSIM %.4f  chroma SSIM %.4f  shift %+.2f,%+.2f px",
						c.name, spec, plan.Width, plan.Height, testShrink(c.info, plan), ssim, cssim, dx, dy))
					if cssim < minChromaSSIM {
						t.Errorf("chroma SSIM %.4f against the Lanczos3 reference, want ≥ %.2f", cssim, minChromaSSIM)
					}
					if ssim < minSSIM {
						t.Errorf("SSIM %.4f against the Lanczos3 reference, want ≥ %.2f", ssim, minSSIM)
					}
					if math.Abs(dx) > maxShift || math.Abs(dy) > maxShift {
						t.Errorf("shifted %+.2f,%+.2f px against the Lanczos3 reference, want within ±%.1f", dx, dy, maxShift)
					}
				})
			}
		}
	}
	sort.Strings(rows)
	t.Logf("SSIM against a Lanczos3 reduction of the full decode:\n%s", strings.Join(rows, "\n"))
}

// testShrink names what reduces the source before the Lanczos3: a JPEG's DCT scale, libwebp's
// rescaler, else the box of boxFactor.
func testShrink(info Info, plan Plan) string {
	if info.Format == JPEG {
		return fmt.Sprintf("scale 1/%d", decodeDenom(info, plan))
	}
	if k := webpShrink(info, plan); k > 1 && info.Format == WebP {
		return fmt.Sprintf("libwebp 1/%d", k)
	}
	return fmt.Sprintf("box %d×%d", boxFactor(float64(plan.Crop.Dx())/float64(plan.Width)), boxFactor(float64(plan.Crop.Dy())/float64(plan.Height)))
}

// fullUpright decodes src at full size with the pipeline's decoder and turns it upright.
func fullUpright(t *testing.T, src []byte) (*image.NRGBA, Info) {
	t.Helper()
	info, err := Inspect(bytes.NewReader(src), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpegn.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	up := orient(img, info.Orientation)
	out := image.NewNRGBA(image.Rect(0, 0, up.Bounds().Dx(), up.Bounds().Dy()))
	draw.Draw(out, out.Bounds(), up, up.Bounds().Min, draw.Src)
	return out, info
}

// lanczos3Reference is the textbook reduction: crop of img resampled to w×h with a separable
// Lanczos3 filter widened by the scale factor, sample centres at (i+0.5)·scale−0.5 from the
// crop's edge, taps that fall outside the crop reading the image around it (outside the image,
// its edge pixel), in float64 on 8-bit gamma-encoded values, rounded once at the end.
func lanczos3Reference(img *image.NRGBA, crop image.Rectangle, w, h int) *image.NRGBA {
	b := img.Bounds()
	sx, sy := float64(crop.Dx())/float64(w), float64(crop.Dy())/float64(h)
	// Horizontal pass over every row of the image (the vertical pass may need rows outside the crop).
	tmp := make([]float64, b.Dy()*w*3)
	for x := 0; x < w; x++ {
		idx, wts := lanczos3Taps(float64(crop.Min.X), sx, x, b.Dx())
		for y := 0; y < b.Dy(); y++ {
			var r, g, bl float64
			row := img.Pix[y*img.Stride:]
			for k, i := range idx {
				p := row[4*i:]
				r += wts[k] * float64(p[0])
				g += wts[k] * float64(p[1])
				bl += wts[k] * float64(p[2])
			}
			o := (y*w + x) * 3
			tmp[o], tmp[o+1], tmp[o+2] = r, g, bl
		}
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		idx, wts := lanczos3Taps(float64(crop.Min.Y), sy, y, b.Dy())
		for x := 0; x < w; x++ {
			var c [3]float64
			for k, i := range idx {
				o := (i*w + x) * 3
				c[0] += wts[k] * tmp[o]
				c[1] += wts[k] * tmp[o+1]
				c[2] += wts[k] * tmp[o+2]
			}
			p := out.Pix[out.PixOffset(x, y):]
			for ch := range 3 {
				p[ch] = uint8(math.Round(math.Min(255, math.Max(0, c[ch]))))
			}
			p[3] = 255
		}
	}
	return out
}

// lanczos3Taps returns the source indices (clamped to 0…n−1) and normalised weights of output
// sample i of a reduction by scale starting at source coordinate origin.
func lanczos3Taps(origin, scale float64, i, n int) ([]int, []float64) {
	s := math.Max(scale, 1)
	centre := origin + (float64(i)+0.5)*scale - 0.5
	support := 3 * s
	var idx []int
	var wts []float64
	var sum float64
	for j := int(math.Ceil(centre - support)); j <= int(math.Floor(centre+support)); j++ {
		x := (float64(j) - centre) / s
		wt := sinc(x) * sinc(x/3)
		if math.Abs(x) >= 3 {
			wt = 0
		}
		idx = append(idx, min(max(j, 0), n-1))
		wts = append(wts, wt)
		sum += wt
	}
	for k := range wts {
		wts[k] /= sum
	}
	return idx, wts
}

// luma returns the Rec. 601 luma of img, row by row, as float64 0–255.
func luma(img image.Image) []float64 { return plane(img, 0.299, 0.587, 0.114, 0) }

// chroma returns the Rec. 601 Cb and Cr planes of img, as float64 centred on 128.
func chroma(img image.Image) (cb, cr []float64) {
	return plane(img, -0.168736, -0.331264, 0.5, 128), plane(img, 0.5, -0.418688, -0.081312, 128)
}

func plane(img image.Image, kr, kg, kb, offset float64) []float64 {
	b := img.Bounds()
	out := make([]float64, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, (kr*float64(r)+kg*float64(g)+kb*float64(bl))/257+offset)
		}
	}
	return out
}

// ssimLuma is the mean SSIM of two w×h luma planes (Wang et al. 2004: 11×11 Gaussian window,
// σ 1.5, K1 0.01, K2 0.03, L 255), over the windows that fit inside the image.
func ssimLuma(a, b []float64, w, h int) float64 {
	const r = 5
	var g [2*r + 1]float64
	var gs float64
	for i := range g {
		d := float64(i - r)
		g[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		gs += g[i]
	}
	for i := range g {
		g[i] /= gs
	}
	// Separable blur of a plane, valid region only: result is (w−2r)×(h−2r).
	blur := func(p []float64) []float64 {
		vw, vh := w-2*r, h-2*r
		tmp := make([]float64, vw*h)
		for y := 0; y < h; y++ {
			for x := 0; x < vw; x++ {
				var s float64
				for k := range g {
					s += g[k] * p[y*w+x+k]
				}
				tmp[y*vw+x] = s
			}
		}
		out := make([]float64, vw*vh)
		for y := 0; y < vh; y++ {
			for x := 0; x < vw; x++ {
				var s float64
				for k := range g {
					s += g[k] * tmp[(y+k)*vw+x]
				}
				out[y*vw+x] = s
			}
		}
		return out
	}
	prod := func(p, q []float64) []float64 {
		o := make([]float64, len(p))
		for i := range p {
			o[i] = p[i] * q[i]
		}
		return o
	}
	if w <= 2*r || h <= 2*r {
		return math.NaN()
	}
	ma, mb := blur(a), blur(b)
	saa, sbb, sab := blur(prod(a, a)), blur(prod(b, b)), blur(prod(a, b))
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	for i := range ma {
		va, vb, cov := saa[i]-ma[i]*ma[i], sbb[i]-mb[i]*mb[i], sab[i]-ma[i]*mb[i]
		sum += ((2*ma[i]*mb[i] + c1) * (2*cov + c2)) / ((ma[i]*ma[i] + mb[i]*mb[i] + c1) * (va + vb + c2))
	}
	return sum / float64(len(ma))
}

// shiftEstimate estimates by how many pixels got is displaced against want (positive: got shows
// the content further right/down), by least squares on want's gradients (one Lucas–Kanade step
// over the whole image; good for shifts under a pixel).
func shiftEstimate(got, want []float64, w, h int) (dx, dy float64) {
	var gxx, gxy, gyy, bx, by float64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*w + x
			ix := (want[i+1] - want[i-1]) / 2
			iy := (want[i+w] - want[i-w]) / 2
			it := got[i] - want[i]
			gxx += ix * ix
			gxy += ix * iy
			gyy += iy * iy
			bx += ix * it
			by += iy * it
		}
	}
	det := gxx*gyy - gxy*gxy
	if det == 0 {
		return 0, 0
	}
	// got ≈ want + ix·u + iy·v for content moved by −(u,v); a displacement d gives u = −d.
	u := (gyy*bx - gxy*by) / det
	v := (gxx*by - gxy*bx) / det
	return -u, -v
}

// encodeLossyWebP encodes img as an opaque lossy WebP at quality 90 with the pipeline's encoder.
func encodeLossyWebP(t *testing.T, img *image.NRGBA) []byte {
	t.Helper()
	var buf bytes.Buffer
	src := encodePNGBytes(t, img)
	opts := DefaultOptions()
	opts.Limits.MaxOutputSide = 16383 // WebP's own limit: the large corpus photo is 5640 wide
	if _, err := Generate(context.Background(), bytes.NewReader(src), MustParse("format-webp|webpquality-90"), nil, opts, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fullWebP is the full-size decode of a lossy WebP by the decoder Generate uses (libwebp in a
// cgo build, else golang.org/x/image/webp), brought to full range.
func fullWebP(t *testing.T, src []byte) *image.NRGBA {
	t.Helper()
	info, err := Inspect(bytes.NewReader(src), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var img image.Image
	if webpLibrary {
		img, err = decodeWebPScaled(src, info.Width, info.Height, info.Width, info.Height)
	} else {
		img, err = webp.Decode(bytes.NewReader(src))
	}
	if err != nil {
		t.Fatal(err)
	}
	img = webpFullRange(img)
	out := image.NewNRGBA(image.Rect(0, 0, info.Width, info.Height))
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}
