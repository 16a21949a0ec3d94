package renditions

import (
	"bytes"
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gen2brain/jpegn"
)

// progressiveSources are progressive JPEGs of every layout decodeReduced takes: libjpeg's scan
// script (FreshFlower, 4:2:0), restart intervals of 3 blocks (restart.jpg, made by jpegtran
// -progressive -restart 3B from orientation/upright.jpg), grey with restarts every row
// (gray.jpg, -grayscale -restart 1), a script with successive approximation in the low luma
// bands so that refinement scans are kept at 1/4 (refine.jpg, jpegtran -scans, see
// testdata/progressive/README), jpegn's own progressive encoder at 4:4:4 and 4:2:2, and the
// large Elephants when VEIL_LARGE_CORPUS is set.
func progressiveSources(t *testing.T) map[string][]byte {
	t.Helper()
	src := map[string][]byte{"FreshFlower": corpusFile(t, "photos/FreshFlower.jpg")}
	for _, n := range []string{"restart.jpg", "gray.jpg", "refine.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", "progressive", n))
		if err != nil {
			t.Fatal(err)
		}
		src[n] = b
	}
	for name, sub := range map[string]jpegn.Subsampling{"jpegn 444": jpegn.Subsample444, "jpegn 422": jpegn.Subsample422} {
		var b bytes.Buffer
		if err := jpegn.Encode(&b, gradient(333, 211), &jpegn.EncodeOptions{Quality: 90, Progressive: true, Subsampling: sub}); err != nil {
			t.Fatal(err)
		}
		src[name] = b.Bytes()
	}
	if os.Getenv("VEIL_LARGE_CORPUS") != "" {
		src["Elephants"] = largeCorpusFile(t)
	}
	return src
}

// TestReducedMatchesJPEGN: decodeReduced gives exactly jpegn's pixels for the same pruned data,
// at 1/8 and 1/4, while keeping 1 or 5 coefficients a block instead of 64.
func TestReducedMatchesJPEGN(t *testing.T) {
	for name, data := range progressiveSources(t) {
		for _, denom := range []int{8, 4} {
			t.Run(name+"/"+map[int]string{8: "1-8", 4: "1-4"}[denom], func(t *testing.T) {
				pruned, ok := pruneScans(data, scaleCoefficients[denom])
				if !ok {
					t.Fatal("pruneScans refused the file")
				}
				want, err := jpegn.Decode(bytes.NewReader(pruned), &jpegn.Options{ScaleDenom: denom})
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeReduced(pruned, denom)
				if err != nil {
					t.Fatal(err)
				}
				if got.Bounds() != want.Bounds() {
					t.Fatalf("bounds %v, jpegn %v", got.Bounds(), want.Bounds())
				}
				samePixels(t, got, want)
			})
		}
	}
}

// samePixels fails unless a and b (both *image.YCbCr or both *image.Gray) hold the same samples
// within their bounds.
func samePixels(t *testing.T, a, b image.Image) {
	t.Helper()
	r := a.Bounds()
	switch a := a.(type) {
	case *image.YCbCr:
		b, ok := b.(*image.YCbCr)
		if !ok || a.SubsampleRatio != b.SubsampleRatio {
			t.Fatalf("got %T %v, want %T", a, a.SubsampleRatio, b)
		}
		diffs := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				ya, yb := a.Y[a.YOffset(x, y)], b.Y[b.YOffset(x, y)]
				ca, cb := a.COffset(x, y), b.COffset(x, y)
				if ya != yb || a.Cb[ca] != b.Cb[cb] || a.Cr[ca] != b.Cr[cb] {
					if diffs++; diffs <= 3 {
						t.Errorf("(%d,%d): YCbCr %d,%d,%d, jpegn %d,%d,%d", x, y, ya, a.Cb[ca], a.Cr[ca], yb, b.Cb[cb], b.Cr[cb])
					}
				}
			}
		}
		if diffs > 0 {
			t.Errorf("%d of %d pixels differ", diffs, r.Dx()*r.Dy())
		}
	case *image.Gray:
		b, ok := b.(*image.Gray)
		if !ok {
			t.Fatalf("got %T, want %T", a, b)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			if !bytes.Equal(a.Pix[a.PixOffset(r.Min.X, y):a.PixOffset(r.Max.X, y)], b.Pix[b.PixOffset(r.Min.X, y):b.PixOffset(r.Max.X, y)]) {
				t.Fatalf("row %d differs", y)
			}
		}
	default:
		t.Fatalf("unexpected %T", a)
	}
}

// TestReducedLeavesOthersToJPEGN: frames decodeReduced does not take come back as errNotReduced
// (then jpegn decodes them), never as a wrong image.
func TestReducedLeavesOthersToJPEGN(t *testing.T) {
	baseline := corpusFile(t, "photos/Garden.jpg")
	if _, err := decodeReduced(baseline, 4); !errors.Is(err, errNotReduced) {
		t.Errorf("baseline: %v, want errNotReduced", err)
	}
	prog := progressiveSources(t)["FreshFlower"]
	if _, err := decodeReduced(prog, 2); !errors.Is(err, errNotReduced) {
		t.Errorf("1/2 scale: %v, want errNotReduced", err)
	}
	full := progressiveSources(t)["jpegn 444"] // unpruned: every refinement scan reaches 63
	if _, err := decodeReduced(full, 4); err != nil && !errors.Is(err, errNotReduced) {
		t.Errorf("unpruned: %v", err)
	}
}

// TestBaselineStreamMatchesJPEGN: a baseline JPEG decoded as it is read, at 1/8 and 1/4, gives
// exactly jpegn's pixels; cut short it reports io.ErrUnexpectedEOF (Generate: truncated).
func TestBaselineStreamMatchesJPEGN(t *testing.T) {
	src := map[string][]byte{}
	for _, n := range []string{"photos/Garden.jpg", "photos/LadyBird.jpg", "photos/Wood.jpg", "orientation/orientation-6.jpg"} {
		src[n] = corpusFile(t, n)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "progressive", "baseline-restart.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	src["baseline-restart.jpg"] = b
	for name, img := range map[string]image.Image{"jpegn 444": gradient(333, 211), "jpegn gray": gray8(301, 207)} {
		var b bytes.Buffer
		if err := jpegn.Encode(&b, img, &jpegn.EncodeOptions{Quality: 90, Subsampling: jpegn.Subsample444}); err != nil {
			t.Fatal(err)
		}
		src[name] = b.Bytes()
	}
	var b422 bytes.Buffer
	if err := jpegn.Encode(&b422, gradient(333, 211), &jpegn.EncodeOptions{Quality: 90, Subsampling: jpegn.Subsample422}); err != nil {
		t.Fatal(err)
	}
	src["jpegn 422"] = b422.Bytes()
	for name, data := range src {
		if !baselineStreamable(data, int64(len(data))) {
			t.Errorf("%s: not streamable", name)
			continue
		}
		for _, denom := range []int{8, 4} {
			t.Run(name+"/"+map[int]string{8: "1-8", 4: "1-4"}[denom], func(t *testing.T) {
				want, err := jpegn.Decode(bytes.NewReader(data), &jpegn.Options{ScaleDenom: denom})
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeBaselineStream(bytes.NewReader(data), denom, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got.Bounds() != want.Bounds() {
					t.Fatalf("bounds %v, jpegn %v", got.Bounds(), want.Bounds())
				}
				samePixels(t, got, want)
				if _, err := decodeBaselineStream(bytes.NewReader(data[:len(data)/2]), denom, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("half the file: %v, want io.ErrUnexpectedEOF", err)
				}
			})
		}
	}
	if p := progressiveSources(t)["FreshFlower"]; baselineStreamable(p, int64(len(p))) {
		t.Error("a progressive JPEG is taken as streamable")
	}
}
