package renditions

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/gen2brain/jpegn"
)

// heapPeak runs fn while a goroutine samples the bytes of heap objects (runtime/metrics
// /memory/classes/heap/objects:bytes: live objects and garbage not yet swept) every 20 µs, and
// returns the largest rise over the heap before fn, and the bytes fn allocated in all
// (runtime.MemStats.TotalAlloc), an upper bound on the peak. Sampling can miss a short-lived
// peak, never invent one, so "estimate ≥ peak" can only err towards passing; the large buffers
// (decoded image, coefficients, resize passes) live for milliseconds, far longer than a sample.
func heapPeak(t testing.TB, fn func()) (peak, total int64) {
	t.Helper()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	base := read()
	stop := make(chan struct{})
	var high int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			high = max(high, read())
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Microsecond):
			}
		}
	}()
	fn()
	last := read()
	close(stop)
	wg.Wait() // high is the sampler's until here
	high = max(high, last, read())
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return high - base, int64(after.TotalAlloc - before.TotalAlloc)
}

// estimateFor inspects src as a caller would before generating, and estimates spec on it.
func estimateFor(t testing.TB, src []byte, spec string) (Info, Plan, int64) {
	t.Helper()
	info, err := Inspect(bytes.NewReader(src), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := MustParse(spec).Plan(info.Width, info.Height, info.Format, nil, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return info, plan, EstimateDecodeBytes(info, plan)
}

// checkEstimate measures Generate(spec) on src and fails when the estimate is below the
// measured peak, or more than 3× it (plus the estimate's fixed 1 MiB overhead and 2 MiB of
// sampling slack for small images).
func checkEstimate(t *testing.T, src []byte, spec string) {
	t.Helper()
	info, _, est := estimateFor(t, src, spec)
	s := MustParse(spec)
	// One untimed run first: pools (source buffers, PNG encoder buffers) and the encoder
	// modules are filled once per process, not per rendition.
	if _, err := Generate(context.Background(), bytes.NewReader(src), s, nil, DefaultOptions(), io.Discard); err != nil {
		t.Fatal(err)
	}
	var genErr error
	wasmPeak := wasmMeasure()
	peak, total := heapPeak(t, func() {
		_, genErr = Generate(context.Background(), bytes.NewReader(src), s, nil, DefaultOptions(), io.Discard)
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	peak += wasmPeak() // the encoders' WebAssembly memory, outside the Go heap
	t.Logf("%s %dx%d %s: estimate %.1f MB, measured peak %.1f MB, allocated %.1f MB", info.Format, info.Width, info.Height, spec, mb(est), mb(peak), mb(total))
	if est < peak {
		t.Errorf("estimate %.1f MB is below the measured peak %.1f MB", mb(est), mb(peak))
	}
	// The slack covers the estimate's fixed parts (2 MB overhead, the WebP encoder's 2 MB base),
	// which a tiny rendition does not reach: vnc-d.webp to width-100 peaks at 0.5–0.6 MB.
	if est > 3*peak+4<<20 {
		t.Errorf("estimate %.1f MB is more than 3× the measured peak %.1f MB", mb(est), mb(peak))
	}
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// Test16BitPNGEstimate (issue 14, item 7): a 16-bit PNG decodes to 8 bytes a pixel, twice
// what an 8-bit one needs; the estimate must follow the decoded pixel format, so a small
// rendition of a large 16-bit PNG is not admitted at half its real memory.
func Test16BitPNGEstimate(t *testing.T) {
	for _, tt := range []struct {
		name string
		img  image.Image
	}{
		{"rgba64", gradient16(2000, 1500, true)},
		{"rgb48", gradient16(2000, 1500, false)},
		{"gray16", gray16(2000, 1500)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkEstimate(t, encodePNGBytes(t, tt.img), "width-100")
		})
	}
}

// TestEstimateCoversPeakHeap: for every format and pixel layout of the corpus, plus generated
// ones (paletted, gray and 16-bit PNG, progressive 4:4:4 and gray JPEG, GIF, lossless and alpha
// WebP), the estimate is at least the measured peak and at most 3× it.
func TestEstimateCoversPeakHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures peak memory of many decodes")
	}
	type tc struct {
		name string
		src  func(t *testing.T) []byte
		spec string
	}
	file := func(rel string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return corpusFile(t, rel) }
	}
	jpegOf := func(img image.Image, o jpegn.EncodeOptions) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			var b bytes.Buffer
			if err := jpegn.Encode(&b, img, &o); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
	}
	pngOf := func(img image.Image) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return encodePNGBytes(t, img) }
	}
	cases := []tc{
		{"large progressive? Elephants", file("large/Elephants_5640x3172.jpg"), "width-400"},
		{"baseline Garden thumb", file("photos/Garden.jpg"), "width-100"},
		{"baseline Garden large", file("photos/Garden.jpg"), "width-1600"},
		{"progressive FreshFlower", file("photos/FreshFlower.jpg"), "width-300"},
		{"progressive FreshFlower 1/8", file("photos/FreshFlower.jpg"), "width-150"},
		{"oriented", file("orientation/orientation-6.jpg"), "fill-200x200"},
		{"png rgba", file("png/Spring.png"), "width-400"},
		{"png rgb", file("png/Sway_Wallpaper_Blue_1920x1080.png"), "width-800"},
		{"png rgba same size", file("png/Arc-Colors-Transparent-Wallpaper.png"), "format-png"},
		{"webp lossy", file("webp/truchet-d.webp"), "width-400"},
		{"webp lossy small", file("webp/vnc-d.webp"), "width-100"},
		{"png paletted", pngOf(paletted(1600, 1200)), "width-200"},
		{"png gray8", pngOf(gray8(1600, 1200)), "width-200"},
		{"png rgba64", pngOf(gradient16(1600, 1200, true)), "width-800"},
		{"png gray16", pngOf(gray16(1600, 1200)), "width-200"},
		{"jpeg progressive 444", jpegOf(gradient(1600, 1200), jpegn.EncodeOptions{Quality: 90, Progressive: true, Subsampling: jpegn.Subsample444}), "width-400"},
		{"jpeg progressive 420 1/8", jpegOf(gradient(1600, 1200), jpegn.EncodeOptions{Quality: 90, Progressive: true, Subsampling: jpegn.Subsample420}), "width-100"},
		{"jpeg gray", jpegOf(gray8(1600, 1200), jpegn.EncodeOptions{Quality: 90}), "width-300"},
		{"jpeg baseline 444", jpegOf(gradient(1600, 1200), jpegn.EncodeOptions{Quality: 90, Subsampling: jpegn.Subsample444}), "width-1200"},
		{"gif", func(t *testing.T) []byte {
			var b bytes.Buffer
			if err := gif.Encode(&b, paletted(1200, 900), nil); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}, "width-300"},
		{"to webp", file("photos/Garden.jpg"), "width-800|format-webp"},
		{"to avif", file("photos/LadyBird.jpg"), "width-320|format-avif"},
		{"to avif lossless", file("photos/LadyBird.jpg"), "width-160|format-avif-lossless"},
		{"to webp lossless", file("photos/LadyBird.jpg"), "width-400|format-webp-lossless"}, // a photo: the encoder's dearest case (a flat graphic such as Spring.png needs a fifth of it)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkEstimate(t, c.src(t), c.spec) })
	}
	// Lossless and alpha WebP sources, made by the WebP encoder.
	for _, spec := range []string{"format-webp-lossless", "format-webp"} {
		var buf bytes.Buffer
		if _, err := Generate(context.Background(), bytes.NewReader(corpusFile(t, "png/Spring.png")), MustParse(spec), nil, DefaultOptions(), &buf); err != nil {
			t.Fatal(err)
		}
		t.Run("webp source "+spec, func(t *testing.T) { checkEstimate(t, buf.Bytes(), "width-300") })
	}
}

// gradient16 is gradient at 16 bits a sample, with alpha or opaque (then encoded as RGB).
func gradient16(w, h int, alpha bool) image.Image {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint16(0xffff)
			if alpha {
				a = uint16(0x8000 + x*0x7fff/w)
			}
			img.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 0xffff / w), G: uint16(y * 0xffff / h), B: 0x8000, A: a})
		}
	}
	return img
}

func gray16(w, h int) image.Image {
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray16(x, y, color.Gray16{Y: uint16((x + y) * 0xffff / (w + h))})
		}
	}
	return img
}

func gray8(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{Y: uint8((x + y) * 255 / (w + h))})
		}
	}
	return img
}

func paletted(w, h int) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.NRGBA{uint8(i), uint8(255 - i), uint8(i / 2), 255}
	}
	img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetColorIndex(x, y, uint8((x/8+y/8)%256))
		}
	}
	return img
}
