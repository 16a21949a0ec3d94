package renditions

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image/gif"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// forgedJPEG is a JPEG that is only a frame header (SOF0, 3 components) of w×h, optionally
// followed by a bogus scan and an end-of-image marker.
func forgedJPEG(w, h int, withEnd bool) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	if withEnd {
		b = append(b, 0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0x12, 0x34, 0xFF, 0xD9)
	}
	return b
}

// pngChunk appends one PNG chunk with its CRC.
func pngChunk(b []byte, typ string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// pngBomb is a tiny PNG whose IHDR claims w×h RGBA and whose IDAT holds a little compressed
// zero data.
func pngBomb(w, h int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b = pngChunk(b, "IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	b = pngChunk(b, "IDAT", z.Bytes())
	return pngChunk(b, "IEND", nil)
}

func gifHeader(w, h int) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	b = append(b, 0x80, 0, 0) // global colour table of 2 entries
	b = append(b, 0, 0, 0, 255, 255, 255)
	// one image descriptor for the whole screen, a minimal LZW stream, trailer
	b = append(b, 0x2C, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	b = append(b, 0, 2, 2, 0x44, 0x01, 0, 0x3B)
	return b
}

// measure runs f and reports how long it took and how many bytes the process allocated.
func measure(f func()) (time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return d, after.TotalAlloc - before.TotalAlloc
}

func TestHostile(t *testing.T) {
	var bmpBuf, tiffBuf bytes.Buffer
	if err := bmp.Encode(&bmpBuf, gradient(20, 20)); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, gradient(20, 20), nil); err != nil {
		t.Fatal(err)
	}
	garden := corpusFile(t, "photos/Garden.jpg")      // baseline
	flower := corpusFile(t, "photos/FreshFlower.jpg") // progressive
	spring := corpusFile(t, "png/Spring.png")         // PNG
	truchet := corpusFile(t, "webp/truchet-d.webp")   // lossy WebP
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, gradient(300, 200), nil); err != nil {
		t.Fatal(err)
	}
	bigAPP := []byte{0xFF, 0xD8}
	for i := 0; i < 20; i++ { // 20 × 64 KB APP2 segments push the frame header past 1 MiB
		bigAPP = append(bigAPP, 0xFF, 0xE2, 0xFF, 0xFF)
		bigAPP = append(bigAPP, make([]byte, 0xFFFD)...)
	}
	bigAPP = append(bigAPP, forgedJPEG(100, 100, true)[2:]...)
	animatedWebP := []byte("RIFF\x1e\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x63\x00\x00\x63\x00\x00ANIM")
	sof := func(marker, precision byte) []byte {
		b := forgedJPEG(100, 100, true)
		b[3], b[6] = marker, precision
		return b
	}

	tests := []struct {
		name  string
		data  []byte
		lim   Limits
		limit string // want *LimitError on this field
		want  error  // else want this sentinel
		// whether Inspect alone already rejects it (else only Generate does)
		inspectOK bool
	}{
		{name: "forged 65500x65500 JPEG", data: forgedJPEG(65500, 65500, false), limit: "MaxSourceSide"},
		{name: "forged 29000x29000 JPEG", data: forgedJPEG(29000, 29000, true), limit: "MaxSourcePixels"},
		{name: "forged JPEG under raised limits, no end", data: forgedJPEG(65500, 65500, false),
			lim: Limits{MaxSourceSide: 70000, MaxSourcePixels: 5e9}, want: ErrCorrupt, inspectOK: true},
		{name: "forged JPEG under raised limits", data: forgedJPEG(65500, 65500, true),
			lim: Limits{MaxSourceSide: 70000, MaxSourcePixels: 5e9}, want: ErrCorrupt, inspectOK: true},
		{name: "forged 7000x7000 JPEG within limits", data: forgedJPEG(7000, 7000, true), want: ErrCorrupt, inspectOK: true},
		{name: "PNG bomb 100000x100000", data: pngBomb(100000, 100000), limit: "MaxSourceSide"},
		{name: "PNG bomb 25000x25000", data: pngBomb(25000, 25000), limit: "MaxSourcePixels"},
		{name: "PNG bomb under custom pixel cap", data: pngBomb(2000, 2000), lim: Limits{MaxSourcePixels: 1e6}, limit: "MaxSourcePixels"},
		{name: "GIF 60000x60000", data: gifHeader(60000, 60000), limit: "MaxSourceSide"},
		{name: "GIF 20000x20000", data: gifHeader(20000, 20000), limit: "MaxSourcePixels"},
		{name: "BMP", data: bmpBuf.Bytes(), want: ErrUnsupportedFormat},
		{name: "TIFF", data: tiffBuf.Bytes(), want: ErrUnsupportedFormat},
		{name: "AVIF", data: []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), want: ErrUnsupportedFormat},
		{name: "PDF", data: corpusFile(t, "documents/shared-mime-info-spec.pdf"), want: ErrUnsupportedFormat},
		{name: "empty", data: nil, want: ErrUnsupportedFormat},
		{name: "text", data: []byte("hello, world"), want: ErrUnsupportedFormat},
		{name: "animated WebP", data: animatedWebP, want: ErrAnimatedWebP},
		{name: "animated WebP made by img2webp", data: corpusFile(t, "refused/animated.webp"), want: ErrAnimatedWebP},
		{name: "arithmetic JPEG", data: sof(0xC9, 8), want: ErrUnsupportedFormat},
		{name: "lossless JPEG", data: sof(0xC3, 8), want: ErrUnsupportedFormat},
		{name: "12-bit JPEG", data: sof(0xC1, 12), want: ErrUnsupportedFormat},
		{name: "JPEG header over 1 MiB", data: bigAPP, want: ErrCorrupt},
		{name: "JPEG cut in the header", data: garden[:bytes.Index(garden, []byte{0xFF, 0xC0})+5], want: ErrCorrupt},
		{name: "JPEG scan before frame", data: []byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9}, want: ErrCorrupt},
		{name: "JPEG zero size", data: forgedJPEG(0, 100, true), want: ErrCorrupt},
		{name: "truncated baseline JPEG", data: garden[:len(garden)/2], want: ErrCorrupt, inspectOK: true},
		{name: "truncated progressive JPEG", data: flower[:len(flower)/2], want: ErrCorrupt, inspectOK: true},
		{name: "truncated PNG", data: spring[:len(spring)/2], want: ErrCorrupt, inspectOK: true},
		{name: "PNG cut in the header", data: spring[:20], want: ErrCorrupt},
		{name: "truncated GIF", data: gifBuf.Bytes()[:gifBuf.Len()/2], want: ErrCorrupt, inspectOK: true},
		{name: "truncated WebP", data: truchet[:len(truchet)/2], want: ErrCorrupt, inspectOK: true},
		{name: "WebP cut in the header", data: truchet[:20], want: ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				if tt.limit != "" {
					var le *LimitError
					if !errors.As(err, &le) || le.Limit != tt.limit {
						t.Fatalf("%s: err = %v, want a *LimitError on %s", what, err, tt.limit)
					}
					return
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("%s: err = %v, want %v", what, err, tt.want)
				}
			}
			r := &countingReader{r: onlyReader{bytes.NewReader(tt.data)}}
			_, err := Inspect(r, tt.lim)
			if tt.inspectOK {
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
			} else {
				check("Inspect", err)
			}
			if r.n > InspectReadLimit {
				t.Errorf("Inspect read %d bytes", r.n)
			}

			opts := DefaultOptions()
			opts.Limits = tt.lim
			r = &countingReader{r: onlyReader{bytes.NewReader(tt.data)}}
			d, alloc := measure(func() {
				_, err = Generate(context.Background(), r, MustParse("width-400"), nil, opts, io.Discard)
			})
			check("Generate", err)
			if !tt.inspectOK && r.n > InspectReadLimit {
				t.Errorf("Generate read %d bytes before rejecting the header", r.n)
			}
			if d > 2*time.Second || alloc > 64<<20 {
				t.Errorf("rejection took %v and %d MB", d, alloc>>20)
			}
		})
	}
}

// TestInspectEndlessStream checks that Inspect stops reading a stream that never ends.
func TestInspectEndlessStream(t *testing.T) {
	// SOI, an APP1 of 64 KB that is not EXIF, then zeros forever: stray bytes between
	// segments are skipped, so only the read limit ends this.
	r := &countingReader{r: io.MultiReader(bytes.NewReader([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}), zeros{})}
	_, err := Inspect(r, DefaultLimits())
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if r.n > InspectReadLimit {
		t.Fatalf("read %d bytes, the limit is %d", r.n, InspectReadLimit)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSliver decides the 1×20000 case: width-400 cannot shrink it and its 20000 rows exceed the
// output cap, so it is refused before decoding; height-400 and a 20000×1 sliver work.
func TestSliver(t *testing.T) {
	tall := encodeJPEGBytes(t, gradient(1, 20000), 90)
	wide := encodeJPEGBytes(t, gradient(20000, 1), 90)

	var le *LimitError
	_, err := Generate(context.Background(), bytes.NewReader(tall), MustParse("width-400"), nil, DefaultOptions(), io.Discard)
	if !errors.As(err, &le) || le.Limit != "MaxOutputSide" || le.Value != 20000 {
		t.Fatalf("1x20000 width-400: err = %v, want a *LimitError on the output side", err)
	}
	for _, tt := range []struct {
		src, spec string
		w, h      int
	}{{"tall", "height-400", 1, 400}, {"wide", "width-400", 400, 1}, {"tall", "fill-100x100", 1, 2}} {
		src := tall
		if tt.src == "wide" {
			src = wide
		}
		_, out := generate(t, src, tt.spec, nil)
		if b := decodeOutput(t, out, JPEG).Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("%s %s: %v, want %dx%d", tt.src, tt.spec, b, tt.w, tt.h)
		}
	}
}

// TestGIFFrameOutsideScreen checks a GIF whose frame is larger than its logical screen: the
// decoder refuses it rather than allocating the frame.
func TestGIFFrameOutsideScreen(t *testing.T) {
	b := gifHeader(10, 10)
	// widen the image descriptor (after the 6-byte signature, 7-byte screen descriptor and
	// 6-byte colour table) to 20000×20000
	desc := bytes.IndexByte(b[13:], 0x2C) + 13
	binary.LittleEndian.PutUint16(b[desc+5:], 20000)
	binary.LittleEndian.PutUint16(b[desc+7:], 20000)
	_, err := Generate(context.Background(), bytes.NewReader(b), MustParse("width-5"), nil, DefaultOptions(), io.Discard)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "frame bounds") {
		t.Fatalf("err = %v, want ErrCorrupt about the frame bounds", err)
	}
}
