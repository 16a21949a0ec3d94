// Command upload-sink gives the floors of bench/upload-alternate.sh: an HTTP server that reads
// each request body to the end, without multipart parsing. /discard throws it away (what the
// client and loopback TCP cost); /file writes it to a new file in -dir in 1 MiB writes, removed
// afterwards (plus the page cache); /file-sha256 also hashes it (plus the hash every Veil upload
// computes).
//
//	go run ./bench/upload-sink -listen 127.0.0.1:18192 -dir /same/disk/as/veil
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18192", "address to listen on")
	dir := flag.String("dir", os.TempDir(), "folder of the files /file and /file-sha256 write")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := sink(r.URL.Path, *dir, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "{\"bytes\":%d}\n", n)
	})))
}

func sink(path, dir string, body io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	if path == "/discard" {
		return io.CopyBuffer(io.Discard, body, buf)
	}
	f, err := os.CreateTemp(dir, "sink-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var w io.Writer = f
	switch path {
	case "/file":
	case "/file-sha256":
		w = io.MultiWriter(f, sha256.New())
	default:
		return 0, fmt.Errorf("unknown path %s: use /discard, /file or /file-sha256", path)
	}
	n, err := io.CopyBuffer(w, struct{ io.Reader }{body}, buf) // no ReadFrom: 1 MiB writes
	if err != nil {
		return n, err
	}
	return n, f.Close()
}
