package renditions

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"sync"
	"testing"

	"github.com/disintegration/imaging"
	"github.com/gen2brain/jpegn"
)

var (
	baselineOnce sync.Once
	baselineJPEG []byte
)

// elephantsBaseline is the large corpus JPEG (progressive) re-encoded as a baseline JPEG at
// quality 90, the other common kind of upload.
func elephantsBaseline(b *testing.B) []byte {
	src := largeCorpusFile(b)
	baselineOnce.Do(func() {
		img, err := jpegn.Decode(bytes.NewReader(src))
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := jpegn.Encode(&buf, img, &jpegn.EncodeOptions{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		baselineJPEG = buf.Bytes()
	})
	return baselineJPEG
}

// BenchmarkGenerate measures the rendition pipeline on the large corpus JPEG (5640×3172,
// progressive 4:2:0, 16 MB) and on a baseline re-encoding of it.
func BenchmarkGenerate(b *testing.B) {
	for _, src := range []struct {
		name string
		data func(*testing.B) []byte
	}{
		{"progressive", func(b *testing.B) []byte { return largeCorpusFile(b) }},
		{"baseline", elephantsBaseline},
	} {
		for _, spec := range []string{"width-400", "fill-300x300|format-webp", "fill-300x300", "width-1600"} {
			b.Run(src.name+"/"+spec, func(b *testing.B) {
				data := src.data(b)
				s, err := Parse(spec, DefaultLimits())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Plan(5640, 3172, JPEG, nil, DefaultLimits()); err != nil {
					b.Skipf("not available in this build: %v", err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := Generate(context.Background(), bytes.NewReader(data), s, nil, DefaultOptions(), io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkNaive is the straightforward path the pipeline is measured against: image/jpeg full
// decode, imaging Lanczos resize to width 400, image/jpeg encode.
func BenchmarkNaive(b *testing.B) {
	for _, src := range []struct {
		name string
		data func(*testing.B) []byte
	}{
		{"progressive", func(b *testing.B) []byte { return largeCorpusFile(b) }},
		{"baseline", elephantsBaseline},
	} {
		b.Run(src.name+"/width-400", func(b *testing.B) {
			data := src.data(b)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				img, err := jpeg.Decode(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				out := imaging.Resize(img, 400, 0, imaging.Lanczos)
				if err := jpeg.Encode(io.Discard, out, &jpeg.Options{Quality: DefaultJPEGQuality}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
