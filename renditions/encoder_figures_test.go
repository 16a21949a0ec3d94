package renditions

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"testing"
	"time"
)

// TestEncoderMemoryFigures prints the WebAssembly memory (and time) of AVIF and WebP encodes at
// several sizes, the figures behind avifEncoderBytes and webpEncoderBytes. It is a measurement,
// not a check: run it with VEIL_MEASURE_ENCODERS=1 go test ./renditions -run
// TestEncoderMemoryFigures -v.
func TestEncoderMemoryFigures(t *testing.T) {
	if os.Getenv("VEIL_MEASURE_ENCODERS") == "" {
		t.Skip("set VEIL_MEASURE_ENCODERS=1 to measure")
	}
	src := corpusFile(t, "large/Elephants_5640x3172.jpg")
	for _, tt := range []struct {
		spec  string
		width []int
	}{
		{"format-webp|webpquality-61", []int{128, 512, 1024, 2048}},
		{"format-webp|webpquality-100", []int{128, 512, 1024, 2048}},
		{"format-webp-lossless", []int{128, 512, 1024}},
		{"format-avif|avifquality-61", []int{128, 512, 1024}},
		{"format-avif|avifquality-100", []int{128, 512, 1024}},
		{"format-avif-lossless", []int{128, 512}},
	} {
		for _, w := range tt.width {
			spec := fmt.Sprintf("width-%d|%s", w, tt.spec)
			peak := wasmMeasure()
			start := time.Now()
			p, err := Generate(context.Background(), bytes.NewReader(src), MustParse(spec), nil, DefaultOptions(), io.Discard)
			if err != nil {
				t.Fatal(spec, err)
			}
			px := float64(p.Width * p.Height)
			t.Logf("%-40s %5dx%-5d encoder memory %6.1f MB = %5.1f B/px, %v (whole Generate)", spec, p.Width, p.Height, float64(peak())/1e6, float64(peak())/px, time.Since(start).Round(time.Millisecond))
		}
	}
	// WebP with alpha: the alpha plane is compressed losslessly.
	alpha, err := png.Decode(bytes.NewReader(corpusFile(t, "png/Spring.png")))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		img  image.Image
		p    Plan
	}{
		{"alpha q80", alpha, Plan{Format: WebP, Quality: 80}},
		{"opaque q80", gradient(1600, 1200), Plan{Format: WebP, Quality: 80}},
		{"alpha lossless", alpha, Plan{Format: WebP, Quality: 80, Lossless: true}},
	} {
		peak := wasmMeasure()
		if err := encodeWebPLimited(context.Background(), io.Discard, c.img, c.p, 4<<30); err != nil {
			t.Fatal(err)
		}
		px := float64(c.img.Bounds().Dx() * c.img.Bounds().Dy())
		t.Logf("webp %-14s 1600x1200 encoder memory %6.1f MB = %5.1f B/px", c.name, float64(peak())/1e6, float64(peak())/px)
	}
}
