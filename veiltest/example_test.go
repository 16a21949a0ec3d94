package veiltest_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// A Go project starts a real Veil in its own test: in-memory SQLite, a mem:// bucket, a known
// admin token, a base URL; stopped at the end of the test.
func Example() {
	v, err := veiltest.Run(context.Background(), &veiltest.Options{AdminToken: "ci-0123456789abcdef0123456789abcdef"})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	req, _ := http.NewRequest("POST", v.URL+"/graphql", strings.NewReader(`{"query":"{ me { email isAdmin } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+v.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: {"data":{"me":{"email":"admin@localhost","isAdmin":true}}}
}

// TestStart: the one-line start serves uploads and renditions like `veil serve` (multipart
// upload with the admin token, then the image's rendition), and a wrong token is refused.
func TestStart(t *testing.T) {
	var logs veiltest.LockedBuffer
	v := veiltest.Start(t, &veiltest.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("veil's log:\n%s", logs.String())
		}
	})
	if len(v.AdminToken) < 32 {
		t.Fatalf("admin token %q", v.AdminToken)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadImage(input: {file: $f}) { id width rendition(spec: \"width-10\") { url } } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "a.png")
	png.Encode(fw, image.NewRGBA(image.Rect(0, 0, 2, 1)))
	mw.Close()
	post := func(token string) (int, string) {
		req, _ := http.NewRequest("POST", v.URL+"/graphql", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, out := post(v.AdminToken + "x"); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d %s", code, out)
	}
	code, out := post(v.AdminToken)
	if code != http.StatusOK || !strings.Contains(out, `"width":2`) || !strings.Contains(out, "/media/renditions/") {
		t.Fatalf("upload: %d %s", code, out)
	}
	url := out[strings.Index(out, "/media/renditions/"):]
	url = url[:strings.IndexByte(url, '"')]
	req, _ := http.NewRequest("GET", v.URL+url, nil)
	req.Header.Set("Authorization", "Bearer "+v.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("rendition: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
