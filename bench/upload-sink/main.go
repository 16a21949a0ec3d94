// Command upload-sink is the floor of bench/upload-alternate.sh: an HTTP server that reads each
// request body to the end and throws it away, so that curl sending a file to it costs what the
// client and loopback TCP cost, with no multipart parsing, hashing or disk on the server.
//
//	go run ./bench/upload-sink -listen 127.0.0.1:18192
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18192", "address to listen on")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "{\"bytes\":%d}\n", n)
	})))
}
