package renditions

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gen2brain/jpegn"
	"golang.org/x/image/webp"
)

// testdataDir finds testdata/ at the repository root (the directory with go.mod).
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// corpusFile reads a file of testdata/corpus, or the large file the repository leaves out.
func corpusFile(t testing.TB, rel string) []byte {
	t.Helper()
	if rel == largeCorpusName {
		return largeCorpusFile(t)
	}
	b, err := os.ReadFile(filepath.Join(testdataDir(t), "corpus", rel))
	if err != nil {
		t.Fatalf("read corpus file: %v", err)
	}
	return b
}

const largeCorpusName = "large/Elephants_5640x3172.jpg"

// largeCorpusFile reads the 16 MB progressive JPEG that the repository leaves out, from the folder
// named by $VEIL_LARGE_CORPUS (tests read nothing outside the repository on their own); the
// benchmarks and the one test that need it skip with the reason when it is not set.
func largeCorpusFile(t testing.TB) []byte {
	t.Helper()
	dir := os.Getenv("VEIL_LARGE_CORPUS")
	if dir == "" {
		t.Skipf("%s is not in the repository (16 MB); set VEIL_LARGE_CORPUS to a folder holding it", largeCorpusName)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.Base(largeCorpusName)))
	if err != nil {
		t.Fatalf("VEIL_LARGE_CORPUS: %v", err)
	}
	return b
}

// gradient returns a w×h image whose red grows with x and green with y, so a pixel's colour
// tells where in the source it came from.
func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i+0] = uint8(255 * (float64(x) + 0.5) / float64(w))
			img.Pix[i+1] = uint8(255 * (float64(y) + 0.5) / float64(h))
			img.Pix[i+2] = 128
			img.Pix[i+3] = 255
		}
	}
	return img
}

func encodeJPEGBytes(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpegn.Encode(&buf, img, &jpegn.EncodeOptions{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNGBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeOutput decodes a rendition with the standard decoders, checking its format.
func decodeOutput(t testing.TB, b []byte, want Format) image.Image {
	t.Helper()
	f, err := sniff(b)
	if err != nil {
		t.Fatalf("output is not an image: %v", err)
	}
	if f != want {
		t.Fatalf("output format %s, want %s", f, want)
	}
	var img image.Image
	switch f {
	case JPEG:
		img, err = jpegn.Decode(bytes.NewReader(b))
	case PNG:
		img, err = png.Decode(bytes.NewReader(b))
	case GIF:
		img, err = gif.Decode(bytes.NewReader(b))
	case WebP:
		img, err = webp.Decode(bytes.NewReader(b))
	}
	if err != nil {
		t.Fatalf("decode %s output: %v", f, err)
	}
	return img
}

// generate runs Generate with default options.
func generate(t testing.TB, src []byte, spec string, focal *FocalPoint) (Plan, []byte) {
	t.Helper()
	s, err := Parse(spec, DefaultLimits())
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	var out bytes.Buffer
	p, err := Generate(context.Background(), bytes.NewReader(src), s, focal, DefaultOptions(), &out)
	if err != nil {
		t.Fatalf("Generate(%q): %v", spec, err)
	}
	return p, out.Bytes()
}

// meanAbsDiff is the mean absolute difference of the RGB channels (0–255) of two images of
// the same size.
func meanAbsDiff(t testing.TB, a, b image.Image) float64 {
	t.Helper()
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() {
		t.Fatalf("sizes differ: %v and %v", ab, bb)
	}
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			c1 := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			c2 := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += math.Abs(float64(c1.R)-float64(c2.R)) + math.Abs(float64(c1.G)-float64(c2.G)) + math.Abs(float64(c1.B)-float64(c2.B))
		}
	}
	return sum / float64(3*ab.Dx()*ab.Dy())
}

func nrgbaAt(img image.Image, x, y int) color.NRGBA {
	b := img.Bounds()
	return color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
