package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// TestRenderFormatFromExtension: without format-* in the spec, the output file's extension picks
// the format; a format-* that contradicts the extension is refused with exit status 2 and no file.
func TestRenderFormatFromExtension(t *testing.T) {
	src := veiltest.Corpus(t, "photos/Garden.jpg")
	dir := t.TempDir()
	for _, c := range []struct {
		spec, out string
		code      int
		mime      string // of the output; "" when none is written
		msg       string
	}{
		{"width-100", "a.png", 0, "image/png", "width-100|format-png 100x62 png"},
		{"width-100", "b.JPEG", 0, "image/jpeg", "width-100|format-jpeg 100x62 jpeg"},
		{"width-100", "c.gif", 0, "image/gif", "width-100|format-gif 100x62 gif"},
		{"width-100", "d.bin", 0, "image/jpeg", "width-100 100x62 jpeg"}, // no image extension: the spec's default
		{"width-100|format-png", "e.png", 0, "image/png", "width-100|format-png 100x62 png"},
		{"width-100|format-png", "f.jpg", 2, "", "the spec writes PNG but"},
		{"format-webp-lossless", "g.png", 2, "", "the spec writes WEBP but"},
	} {
		t.Run(c.spec+" "+c.out, func(t *testing.T) {
			out := filepath.Join(dir, c.out)
			var stdout, stderr bytes.Buffer
			code := render([]string{"-spec", c.spec, src, out}, &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, c.code, stderr.String())
			}
			if !strings.Contains(stdout.String()+stderr.String(), c.msg) {
				t.Errorf("output %q, want it to contain %q", stdout.String()+stderr.String(), c.msg)
			}
			b, err := os.ReadFile(out)
			if c.mime == "" {
				if err == nil {
					t.Errorf("%s was written (%d bytes) after a refusal", c.out, len(b))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := http.DetectContentType(b); got != c.mime {
				t.Errorf("%s holds %s, want %s", c.out, got, c.mime)
			}
		})
	}
}
