package renditions

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"io"
	"testing"
)

// TestWebPShrinkOnLoad: in a cgo build an opaque lossy WebP is decoded by libwebp already
// shrunk, by the largest whole factor that leaves the Lanczos3 reduce at least 2×, and the
// decoded pixels are the planes of the same picture (compared with a box average of the
// full-size decode); without cgo the whole image is decoded.
func TestWebPShrinkOnLoad(t *testing.T) {
	src := corpusFile(t, "webp/truchet-d.webp") // 4096×4096, "VP8 "
	info, err := Inspect(bytes.NewReader(src), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		spec string
		k    int
	}{
		{"width-400", 5}, // 4096/400 = 10.24: 5 leaves 2.05
		{"fill-300x100", 6},
		{"width-2048", 1},
		{"width-3000", 1},
	} {
		t.Run(tt.spec, func(t *testing.T) {
			plan, err := MustParse(tt.spec).Plan(info.Width, info.Height, info.Format, nil, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			k := tt.k
			if !webpLibrary {
				k = 1
			}
			if got := webpShrink(info, plan); got != k {
				t.Fatalf("webpShrink = %d, want %d", got, k)
			}
			head := bytes.NewBuffer(append([]byte(nil), src...))
			img, err := decode(header{Info: info}, plan, head, &readErrRecorder{r: bytes.NewReader(nil)})
			if err != nil {
				t.Fatal(err)
			}
			want := image.Rect(0, 0, (info.Width+k-1)/k, (info.Height+k-1)/k)
			if img.Bounds() != want {
				t.Fatalf("decoded %v, want %v", img.Bounds(), want)
			}
		})
	}
	if !webpLibrary {
		return
	}
	// The shrunk decode against 8×8 means of the full one (libwebp's rescaler averages the same
	// areas of the planes, then converts; the full decode converts each pixel first).
	full, err := decodeWebPScaled(src, 4096, 4096, 4096, 4096)
	if err != nil {
		t.Fatal(err)
	}
	small, err := decodeWebPScaled(src, 4096, 4096, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	var sum, worst float64
	for y := range 512 {
		for x := range 512 {
			for c := range 3 {
				var m int
				for j := range 8 {
					for i := range 8 {
						m += int(full.Pix[full.PixOffset(8*x+i, 8*y+j)+c])
					}
				}
				d := float64(small.Pix[small.PixOffset(x, y)+c]) - float64(m)/64
				sum += d
				worst = max(worst, d, -d)
			}
		}
	}
	mean := sum / (3 * 512 * 512)
	t.Logf("shrunk RGB against 8×8 means of the full decode: mean difference %.2f, worst %.1f", mean, worst)
	if mean > 0.5 || mean < -0.5 || worst > 12 {
		t.Errorf("mean difference %.2f, worst %.1f; want within ±0.5 and 12", mean, worst)
	}
}

// TestWebPDecoderRefusals: what libwebp is not given, and what it refuses, comes back as the
// pipeline's errors, never as a crash: a frame that disagrees with its VP8X canvas, a file cut
// short, and a lossy WebP with alpha (decoded by golang.org/x/image/webp instead: its lossless
// alpha plane is a VP8L bitstream, whose Huffman groups x/image caps).
func TestWebPDecoderRefusals(t *testing.T) {
	truchet := corpusFile(t, "webp/truchet-d.webp")
	vp8 := truchet[12:] // the "VP8 " chunk
	// The same frame inside a VP8X header whose canvas is twice as wide.
	var x bytes.Buffer
	x.WriteString("RIFF\x00\x00\x00\x00WEBPVP8X")
	binary.Write(&x, binary.LittleEndian, uint32(10))
	x.Write([]byte{0, 0, 0, 0})
	w, h := 2*4096-1, 4096-1
	x.Write([]byte{byte(w), byte(w >> 8), byte(w >> 16), byte(h), byte(h >> 8), byte(h >> 16)})
	x.Write(vp8)
	bad := x.Bytes()
	binary.LittleEndian.PutUint32(bad[4:], uint32(len(bad)-8))

	for _, tt := range []struct {
		name string
		src  []byte
		want error
	}{
		{"frame smaller than its canvas", bad, ErrCorrupt},
		{"cut in the first partition", truchet[:200], ErrCorrupt},
		{"cut at three quarters", truchet[:3*len(truchet)/4], ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(context.Background(), bytes.NewReader(tt.src), MustParse("width-100"), nil, DefaultOptions(), io.Discard)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Generate: %v, want %v", err, tt.want)
			}
		})
	}

	// A lossy WebP with alpha is not given to libwebp.
	var withAlpha bytes.Buffer
	if _, err := Generate(context.Background(), bytes.NewReader(corpusFile(t, "png/Spring.png")), MustParse("format-webp"), nil, DefaultOptions(), &withAlpha); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(bytes.NewReader(withAlpha.Bytes()), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeWebPScaled(withAlpha.Bytes(), info.Width, info.Height, info.Width/4, info.Height/4); !errors.Is(err, errNotLossyOpaque) {
		t.Fatalf("decodeWebPScaled of a lossy WebP with alpha: %v, want errNotLossyOpaque", err)
	}
	plan, out := generate(t, withAlpha.Bytes(), "width-200|format-png", nil)
	if got := decodeOutput(t, out, PNG).Bounds(); got.Dx() != plan.Width || got.Dy() != plan.Height {
		t.Fatalf("rendition is %v, want %dx%d", got, plan.Width, plan.Height)
	}
}

// TestReadWholeSizesOnce: a source that tells its size is read into one buffer of that size.
// bytes.Buffer's own growth from the 1 MiB Inspect read would allocate 2 MiB plus the file, and
// its last read, which needs MinRead free bytes to find EOF, double that; a PNG or WebP source is
// read through the colour chunk watcher, which must not hide the size.
func TestReadWholeSizesOnce(t *testing.T) {
	file := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+5)
	for _, format := range []Format{JPEG, WebP} {
		t.Run(string(format), func(t *testing.T) {
			src := bytes.NewReader(file)
			head := new(bytes.Buffer)
			if _, err := io.CopyN(head, src, InspectReadLimit); err != nil {
				t.Fatal(err)
			}
			rest := &readErrRecorder{r: newSourceColour(format, head.Bytes()).watch(src)}
			if err := readWhole(head, rest, 1<<30); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(head.Bytes(), file) {
				t.Fatalf("read %d bytes, want the %d of the file", head.Len(), len(file))
			}
			if spare := head.Cap() - len(file); spare > bytes.MinRead {
				t.Errorf("buffer holds %d bytes for a %d-byte file: %d spare, want at most %d", head.Cap(), len(file), spare, bytes.MinRead)
			}
		})
	}
}
