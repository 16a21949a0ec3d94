package media

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-media/veil/renditions"
)

// TestTrailerCheck feeds every corpus image through the end-marker check in small and odd-sized
// writes: complete files pass, every truncation fails.
func TestTrailerCheck(t *testing.T) {
	formats := map[string]renditions.Format{".jpg": renditions.JPEG, ".png": renditions.PNG, ".webp": renditions.WebP}
	var files []string
	for _, dir := range []string{"photos", "png", "webp", "orientation"} {
		files = append(files, corpusFiles(t, dir)...)
	}
	for _, rel := range files {
		b, err := os.ReadFile(corpusPath(rel))
		if err != nil {
			t.Fatal(err)
		}
		f := formats[filepath.Ext(rel)]
		check := func(data []byte, step int) string {
			tc := newTrailerCheck(f)
			for i := 0; i < len(data); i += step {
				_, _ = tc.Write(data[i:min(i+step, len(data))])
			}
			return tc.problem(int64(len(data)))
		}
		for _, step := range []int{1, 7, 4096, 1 << 20} {
			if step == 1 && len(b) > 300000 {
				continue
			}
			if p := check(b, step); p != "" {
				t.Errorf("%s (writes of %d): complete file reported %q", rel, step, p)
			}
		}
		for _, cut := range []int{len(b) / 3, len(b) / 2, len(b) * 9 / 10} {
			if p := check(b[:cut], 4093); p == "" {
				t.Errorf("%s cut to %d of %d bytes: not reported truncated", rel, cut, len(b))
			}
		}
	}
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	tc := newTrailerCheck(renditions.GIF)
	_, _ = tc.Write(gif)
	if p := tc.problem(int64(len(gif))); p != "" {
		t.Errorf("complete GIF: %q", p)
	}
	tc = newTrailerCheck(renditions.GIF)
	_, _ = tc.Write(gif[:len(gif)-1])
	if tc.problem(int64(len(gif)-1)) == "" {
		t.Error("truncated GIF passed")
	}
}

func TestValidateFilename(t *testing.T) {
	for _, ok := range []string{"photo.jpg", "Élan vital.pdf", "a b (1).png", "日本語.txt", ".hidden.jpg"} {
		if err := validateFilename(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x.jpg", `..\x.jpg`, "a/b.jpg", "a\x00b.jpg", "a\nb.jpg",
		"photo\u202egpj.exe", "x\u2066.jpg", "\xff.jpg", strings.Repeat("a", 256)} {
		if err := validateFilename(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSniffDocument(t *testing.T) {
	read := func(rel string) []byte {
		b, err := os.ReadFile(corpusPath(rel))
		if err != nil {
			t.Fatal(err)
		}
		return b[:min(len(b), documentSniffBytes)]
	}
	pdf, odt := read("documents/shared-mime-info-spec.pdf"), read("documents/styles.odt")
	cases := []struct {
		name      string
		head      []byte
		file      File
		wantMime  string
		wantError string
	}{
		{"pdf", pdf, File{Filename: "spec.pdf", ContentType: "application/pdf"}, "application/pdf", ""},
		{"pdf without extension", pdf, File{Filename: "spec"}, "application/pdf", ""},
		{"odt", odt, File{Filename: "styles.odt", ContentType: "application/octet-stream"}, "application/vnd.oasis.opendocument.text", ""},
		{"pdf named odt", pdf, File{Filename: "x.odt"}, "", "filename says .odt"},
		{"pdf claiming html", pdf, File{Filename: "x.pdf", ContentType: "text/html"}, "", "claims text/html"},
		{"text", []byte("hello, world\n"), File{Filename: "a.txt", ContentType: "text/plain; charset=utf-8"}, "text/plain", ""},
		{"markdown", []byte("# Title\n\nbody\n"), File{Filename: "a.md", ContentType: "text/markdown"}, "text/plain", ""},
		{"html named txt", []byte("<!DOCTYPE html><html><script>alert(1)</script>"), File{Filename: "a.txt"}, "", "text/html are not accepted"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>`), File{Filename: "a.svg"}, "", "not accepted"},
		{"elf named pdf", append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 64)...), File{Filename: "a.pdf"}, "", "not accepted"},
		{"PE named pdf", append([]byte("MZ\x90\x00"), make([]byte, 128)...), File{Filename: "a.pdf"}, "", "not accepted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dt, err := sniffDocument(c.head, c.file)
			if c.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantError) {
					t.Fatalf("err = %v, want %q", err, c.wantError)
				}
				return
			}
			if err != nil || dt.mime != c.wantMime {
				t.Fatalf("got %q, %v; want %q", dt.mime, err, c.wantMime)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	id := NewID(KindImage)
	if k, err := ParseID(id); err != nil || k != KindImage {
		t.Fatalf("ParseID(%s) = %v, %v", id, k, err)
	}
	for _, bad := range []string{"", "img_", "img", "xyz_01M818HZN4S9NGPTE8NJGQZFVH", "img_01M818HZN4S9NGPTE8NJGQZFV!", "img_81M818HZN4S9NGPTE8NJGQZFVH",
		strings.Repeat("a", 10000), "img_01m818hzn4s9ngpte8njgqzfvh\x00"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if c, err := decodeCursor(Cursor(id)); err != nil || c != id {
		t.Errorf("cursor round trip: %q %v", c, err)
	}
	for _, bad := range []string{"x", "!!!", Cursor("nonsense")} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

// corpusPath and corpusFiles read testdata/corpus (veiltest cannot be imported here: it imports media).
func corpusPath(rel string) string { return filepath.Join("..", "testdata", "corpus", rel) }

func corpusFiles(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(corpusPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, dir+"/"+e.Name())
	}
	return out
}
