package renditions

import (
	"bytes"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"golang.org/x/image/webp"
)

func TestInspectCorpus(t *testing.T) {
	tests := []struct {
		file   string
		format Format
		w, h   int
	}{
		{"photos/FreshFlower.jpg", JPEG, 1600, 1203},
		{"photos/Garden.jpg", JPEG, 2560, 1600},
		{"photos/LadyBird.jpg", JPEG, 2560, 1600},
		{"photos/Wood.jpg", JPEG, 2560, 1920},
		{"large/Elephants_5640x3172.jpg", JPEG, 5640, 3172},
		{"png/Spring.png", PNG, 0, 0},
		{"png/Arc-Colors-Transparent-Wallpaper.png", PNG, 0, 0},
		{"png/Sway_Wallpaper_Blue_1920x1080.png", PNG, 1920, 1080},
		{"webp/truchet-d.webp", WebP, 4096, 4096},
		{"webp/vnc-d.webp", WebP, 256, 256},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := corpusFile(t, tt.file)
			// Cross-check against the standard decoders' own header readers.
			var cfg image.Config
			var err error
			switch tt.format {
			case JPEG:
				cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
			case PNG:
				cfg, err = png.DecodeConfig(bytes.NewReader(data))
			case WebP:
				cfg, err = webp.DecodeConfig(bytes.NewReader(data))
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.w == 0 {
				tt.w, tt.h = cfg.Width, cfg.Height
			}
			r := &countingReader{r: onlyReader{bytes.NewReader(data)}}
			info, err := Inspect(r, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			want := Info{Format: tt.format, Width: tt.w, Height: tt.h, Orientation: 1}
			if geom(info) != want || cfg.Width != tt.w || cfg.Height != tt.h {
				t.Fatalf("Inspect = %+v, want %+v (stdlib says %dx%d)", info, want, cfg.Width, cfg.Height)
			}
			if r.n > InspectReadLimit {
				t.Errorf("read %d bytes", r.n)
			}
			if r.n > 128<<10 { // Wood.jpg carries a 65 KB EXIF with a thumbnail
				t.Errorf("read %d bytes of %d for the header", r.n, len(data))
			}
		})
	}
}

func TestInspectOrientation(t *testing.T) {
	for o := 1; o <= 8; o++ {
		name := "orientation/orientation-" + string(rune('0'+o)) + ".jpg"
		t.Run(name, func(t *testing.T) {
			info, err := Inspect(bytes.NewReader(corpusFile(t, name)), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			want := Info{Format: JPEG, Width: 640, Height: 400, Orientation: o}
			if geom(info) != want {
				t.Fatalf("Inspect = %+v, want %+v", info, want)
			}
		})
	}
	info, err := Inspect(bytes.NewReader(corpusFile(t, "orientation/upright.jpg")), DefaultLimits())
	if err != nil || geom(info) != (Info{Format: JPEG, Width: 640, Height: 400, Orientation: 1}) {
		t.Fatalf("upright.jpg: %+v, %v", info, err)
	}
}

func TestInspectFormats(t *testing.T) {
	img := gradient(30, 20)
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, img, nil); err != nil {
		t.Fatal(err)
	}
	alpha := gradient(30, 20)
	alpha.Pix[3] = 0
	for _, tt := range []struct {
		name string
		data []byte
		want Info // with the pixel-format fields; Format, size and orientation are filled in
	}{
		{"jpeg", encodeJPEGBytes(t, img, 80), Info{Format: JPEG, BitDepth: 8, Channels: 3, Planes: 1.5}},
		{"png", encodePNGBytes(t, img), Info{Format: PNG, BitDepth: 8, Channels: 3}},
		{"png alpha", encodePNGBytes(t, alpha), Info{Format: PNG, BitDepth: 8, Channels: 4}},
		{"png 16-bit", encodePNGBytes(t, gradient16(30, 20, true)), Info{Format: PNG, BitDepth: 16, Channels: 4}},
		{"png gray16", encodePNGBytes(t, gray16(30, 20)), Info{Format: PNG, BitDepth: 16, Channels: 1}},
		{"png paletted", encodePNGBytes(t, paletted(30, 20)), Info{Format: PNG, BitDepth: 8, Channels: 1, Paletted: true}},
		{"gif", gifBuf.Bytes(), Info{Format: GIF, BitDepth: 8, Channels: 1, Paletted: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Inspect(bytes.NewReader(tt.data), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Width, want.Height, want.Orientation, want.FileSize = 30, 20, 1, int64(len(tt.data))
			if info != want {
				t.Fatalf("Inspect = %+v, want %+v", info, want)
			}
		})
	}
}

// geom keeps the format, size and orientation of an Info.
func geom(i Info) Info {
	return Info{Format: i.Format, Width: i.Width, Height: i.Height, Orientation: i.Orientation}
}

func TestExifOrientationParsing(t *testing.T) {
	tests := []struct {
		name string
		tiff []byte
		want int
	}{
		{"little endian", tiffWithOrientation(false, 3, 6), 6},
		{"big endian", tiffWithOrientation(true, 3, 8), 8},
		{"long type", tiffWithOrientation(false, 4, 5), 5},
		{"out of range", tiffWithOrientation(false, 3, 9), 1},
		{"zero", tiffWithOrientation(true, 3, 0), 1},
		{"empty", nil, 1},
		{"bad magic", []byte("XX*\x00\x08\x00\x00\x00"), 1},
		{"offset past end", []byte("II*\x00\xff\xff\x00\x00"), 1},
		{"count past end", []byte("II*\x00\x08\x00\x00\x00\xff\xff"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exifOrientation(tt.tiff); got != tt.want {
				t.Errorf("exifOrientation = %d, want %d", got, tt.want)
			}
		})
	}
}

// tiffWithOrientation builds a minimal TIFF block whose IFD0 has one other tag and the
// Orientation tag with type typ and value v.
func tiffWithOrientation(bigEndian bool, typ, v uint16) []byte {
	var b []byte
	u16 := func(x uint16) {
		if bigEndian {
			b = append(b, byte(x>>8), byte(x))
		} else {
			b = append(b, byte(x), byte(x>>8))
		}
	}
	u32 := func(x uint32) {
		if bigEndian {
			b = append(b, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
		} else {
			b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
		}
	}
	if bigEndian {
		b = append(b, "MM\x00*"...)
	} else {
		b = append(b, "II*\x00"...)
	}
	u32(8)
	u16(2)
	u16(0x010F) // Make, ASCII, 4 bytes inline
	u16(2)
	u32(4)
	b = append(b, "ACME"...)
	u16(0x0112)
	u16(typ)
	u32(1)
	if typ == 4 {
		u32(uint32(v))
	} else {
		u16(v)
		u16(0)
	}
	u32(0)
	return b
}

// jpegWithExif returns a small JPEG carrying an EXIF APP1 with the given orientation.
func jpegWithExif(t testing.TB, img image.Image, orientation uint16) []byte {
	t.Helper()
	plain := encodeJPEGBytes(t, img, 90)
	payload := append([]byte("Exif\x00\x00"), tiffWithOrientation(false, 3, orientation)...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	seg = append(seg, payload...)
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, plain[2:]...)
}

func TestInspectSyntheticExif(t *testing.T) {
	img := gradient(40, 10)
	for o := uint16(1); o <= 8; o++ {
		info, err := Inspect(bytes.NewReader(jpegWithExif(t, img, o)), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		w, h := 40, 10
		if o >= 5 {
			w, h = 10, 40
		}
		if geom(info) != (Info{Format: JPEG, Width: w, Height: h, Orientation: int(o)}) {
			t.Errorf("orientation %d: %+v", o, info)
		}
	}
}

// onlyReader hides every method but Read (no Seek, no Len, no WriteTo).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestInspectReadError(t *testing.T) {
	boom := errors.New("network down")
	r := io.MultiReader(bytes.NewReader([]byte("\xff\xd8\xff\xe0\x00\x10JFIF")), errReader{boom})
	_, err := Inspect(r, DefaultLimits())
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want the read error, not ErrCorrupt", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
