package renditions

import (
	"bytes"
	"image/png"
	"testing"
)

// TestPNGStreamMatchesResample: resizing a PNG row by row as it is read gives exactly what
// resample gives for the image image/png decodes, for RGB and RGBA (with transparency) sources,
// whole and cropped, and refuses what it does not take before reading pixels.
func TestPNGStreamMatchesResample(t *testing.T) {
	srcs := map[string][]byte{
		"rgb":        corpusFile(t, "png/Sway_Wallpaper_Blue_1920x1080.png"),
		"rgba":       corpusFile(t, "png/Spring.png"),
		"rgba alpha": corpusFile(t, "png/Arc-Colors-Transparent-Wallpaper.png"),
		"gradient":   encodePNGBytes(t, gradient(517, 333)),
	}
	for name, data := range srcs {
		full, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		b := full.Bounds()
		for _, c := range []struct {
			name string
			win  box
			w, h int
		}{
			{"width-200", box{0, 0, float64(b.Dx()), float64(b.Dy())}, 200, 200 * b.Dy() / b.Dx()},
			{"fill crop", box{float64(b.Dx() / 5), float64(b.Dy() / 7), float64(b.Dx() * 3 / 4), float64(b.Dy() * 5 / 6)}, 90, 70},
		} {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				want := resample(full, c.win, c.w, c.h)
				got, err := resamplePNGStream(bytes.NewReader(data), c.win, c.w, c.h)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Pix, want.Pix) || got.Rect != want.Rect {
					t.Fatal("differs from resample of the decoded image")
				}
			})
		}
	}
	t.Run("refused", func(t *testing.T) {
		gray := encodePNGBytes(t, gray8(40, 30))
		if _, err := resamplePNGStream(bytes.NewReader(gray), box{0, 0, 40, 30}, 10, 8); err != errPNGStream {
			t.Errorf("gray: %v, want errPNGStream", err)
		}
		rgb := srcs["gradient"]
		cut := rgb[:len(rgb)-20]
		if _, err := resamplePNGStream(bytes.NewReader(cut), box{0, 0, 517, 333}, 10, 8); err == nil {
			t.Error("a truncated PNG decodes")
		}
	})
}
