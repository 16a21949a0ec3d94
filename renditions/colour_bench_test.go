//go:build unix

package renditions

import (
	"bytes"
	"context"
	"image"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user+system CPU time of the process so far. The benchmarks report it per
// operation as cpu-ns/op beside wall time: on a shared machine wall time mostly measures the
// neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f b.N times (b.Loop) and reports its CPU time per operation.
func loopCPU(b *testing.B, f func()) {
	start := cpuTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(max(n, 1)), "cpu-ns/op")
}

// BenchmarkColourGenerate measures what colour management costs a rendition of the large
// corpus JPEG (5640×3172, 17.9 MP): untagged, tagged sRGB (the common camera case, which must
// cost nothing), and tagged Adobe RGB and ProPhoto (converted). Needs VEIL_LARGE_CORPUS.
func BenchmarkColourGenerate(b *testing.B) {
	plain := largeCorpusFile(b)
	for _, tag := range []struct{ name, profile string }{
		{"untagged", ""},
		{"srgb", "srgb.icc"},
		{"adobergb", "adobergb.icc"},
		{"prophoto", "prophoto.icc"},
	} {
		data := plain
		if tag.profile != "" {
			icc := readTestFile(b, filepath.Join(colourDir, tag.profile))
			data = withAPP2(plain, [][]byte{app2Chunk(1, 1, icc)})
		}
		for _, spec := range []string{"width-800", "width-3000"} {
			b.Run(tag.name+"/"+spec, func(b *testing.B) {
				s, err := Parse(spec, DefaultLimits())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				loopCPU(b, func() {
					if _, err := Generate(context.Background(), bytes.NewReader(data), s, nil, DefaultOptions(), io.Discard); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkColourApply is the per-pixel cost of a conversion on a 24 MP (6000×4000) image, the
// table already built: RGB (Adobe RGB, 33³ grid, tetrahedral) and CMYK (17⁴ grid).
func BenchmarkColourApply(b *testing.B) {
	const w, h = 6000, 4000
	b.Run("rgb", func(b *testing.B) {
		t := cachedICCTransform(readTestFile(b, filepath.Join(colourDir, "adobergb.icc")), 3)
		img := gradient(w, h)
		b.SetBytes(int64(len(img.Pix)))
		loopCPU(b, func() { t.apply(img) })
	})
	b.Run("cmyk", func(b *testing.B) {
		t := cachedICCTransform(readTestFile(b, filepath.Join(colourDir, "cmyk-v2.icc")), 4)
		img := image.NewCMYK(image.Rect(0, 0, w, h))
		copy(img.Pix, gradient(w, h).Pix)
		b.SetBytes(int64(len(img.Pix)))
		loopCPU(b, func() { t.applyCMYK(img) })
	})
}

// BenchmarkColourBuild is the one-off cost of building a profile's table (cached afterwards).
func BenchmarkColourBuild(b *testing.B) {
	for _, c := range []struct {
		profile  string
		channels int
	}{{"adobergb.icc", 3}, {"displayp3-v4.icc", 3}, {"cmyk-v2.icc", 4}, {"cmyk-v4.icc", 4}} {
		icc := readTestFile(b, filepath.Join(colourDir, c.profile))
		b.Run(c.profile, func(b *testing.B) {
			for b.Loop() {
				if newICCTransform(icc, c.channels) == nil {
					b.Fatal("no transform")
				}
			}
		})
	}
}

// BenchmarkColourUntagged is what an untagged source pays for colour management: the walk over
// a JPEG's markers for APP2 (the 16 MB large corpus JPEG), and following the chunk headers of a
// PNG as it streams past the decoder (the 858 KB Sway wallpaper).
func BenchmarkColourUntagged(b *testing.B) {
	b.Run("jpeg", func(b *testing.B) {
		data := largeCorpusFile(b)
		loopCPU(b, func() {
			if jpegICC(data) != nil {
				b.Fatal("a profile in an untagged JPEG")
			}
		})
	})
	b.Run("png", func(b *testing.B) {
		data := corpusFile(b, "png/Sway_Wallpaper_Blue_1920x1080.png")
		loopCPU(b, func() {
			c := newSourceColour(PNG, data[:4096])
			if _, err := io.Copy(io.Discard, c.watch(bytes.NewReader(data[4096:]))); err != nil {
				b.Fatal(err)
			}
		})
	})
}
