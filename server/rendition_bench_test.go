package server_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// BenchmarkRenditionGenerate requests a never-generated rendition of one image per iteration over
// loopback HTTP, on a folder bucket with the file-mode permission driver, so every iteration
// decodes, encodes, writes, records and sets the new file's permission.
//
//	go test ./server -run '^$' -bench RenditionGenerate -benchtime 200x
func BenchmarkRenditionGenerate(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "media")
	srv := veiltest.NewServer(b, veiltest.SQLite(b), &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), ACL: storage.NewFileACL(dir)})
	img := srv.UploadImage(b, veiltest.FilePart(b, veiltest.Corpus(b, "photos/Garden.jpg")), nil)
	urls := make([]string, b.N)
	for i := range urls {
		spec := fmt.Sprintf("width-%d|jpegquality-%d", 64+i%400, 1+(i/400)%100)
		r := srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`, map[string]any{"id": img.ID, "s": spec})
		var out struct {
			Image struct{ Rendition struct{ URL string } }
		}
		r.Decode(b, &out)
		urls[i] = srv.URL + out.Image.Rendition.URL
	}
	client := srv.HTTP.Client()
	b.ResetTimer()
	for i := range b.N {
		req, _ := http.NewRequest(http.MethodGet, urls[i], nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
