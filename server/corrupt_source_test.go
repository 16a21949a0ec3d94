package server_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// TestCorruptSourceIs422: an image whose header is sound but whose data is broken (a PNG with a
// wrong checksum in its pixel data) is accepted at upload, which reads only the header, but its
// renditions answer 422 with a message, not 500 INTERNAL, and the original is still served as
// uploaded.
func TestCorruptSourceIs422(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 40, 30))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte("IDAT"))
	b[i+6] ^= 0xff // a byte of the compressed pixel data: the chunk's CRC no longer matches
	img := srv.UploadImage(t, veiltest.Part{Filename: "broken.png", Body: bytes.NewReader(b)}, nil)
	var q struct {
		Image struct{ Rendition struct{ URL string } }
	}
	srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-20") { url } } }`, map[string]any{"id": img.ID}).Decode(t, &q)
	resp, body := srv.Get(t, q.Image.Rendition.URL, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "corrupt") {
		t.Errorf("rendition of a corrupt source: %d %s", resp.StatusCode, body)
	}
	if resp, got := srv.Get(t, img.URL, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(got, b) {
		t.Errorf("original: %d, %d bytes", resp.StatusCode, len(got))
	}
}
