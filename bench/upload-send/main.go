// Command upload-send is the lean client of bench/upload-alternate.sh: it sends one file as a
// GraphQL multipart request (operations, map, the file as part "0") over one TCP connection, the
// file's bytes by sendfile(2) from the page cache (curl reads and writes every byte), and prints the
// response body. It measures the server, not the client.
//
//	go run ./bench/upload-send -url http://127.0.0.1:18191/graphql -token T \
//	  -operations '{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id } }","variables":{"f":null}}' \
//	  -file big.pdf -type application/pdf
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	target := flag.String("url", "", "where to POST")
	token := flag.String("token", "", "bearer token (none: no Authorization header)")
	operations := flag.String("operations", "", "the GraphQL multipart operations field")
	path := flag.String("file", "", "the file sent as part 0 (variables.f)")
	contentType := flag.String("type", "application/octet-stream", "the file part's Content-Type")
	flag.Parse()
	if err := send(*target, *token, *operations, *path, *contentType, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func send(target, token, operations, path, contentType string, out io.Writer) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// The multipart framing around the file, written by mime/multipart into memory.
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("operations", operations)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="0"; filename=%q`, filepath.Base(path)))
	h.Set("Content-Type", contentType)
	if _, err := mw.CreatePart(h); err != nil {
		return err
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n",
		u.RequestURI(), u.Host, mw.FormDataContentType(), int64(head.Len())+fi.Size()+int64(len(tail)))
	if token != "" {
		fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", token)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()+head.String()); err != nil {
		return err
	}
	if _, err := io.Copy(conn, f); err != nil { // *net.TCPConn.ReadFrom(*os.File): sendfile
		return err
	}
	if _, err := io.WriteString(conn, tail); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
