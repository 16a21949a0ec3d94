package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// TestLibraryPageServedToAnyone (issue 12): the media library page and its modules are served by
// Veil's handler without a token, with its policy and the right types; the page holds no data (a
// signed-in request gets the same bytes), and /library leads to /library/.
func TestLibraryPageServedToAnyone(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(path, token string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, anonymous := fetch("/library/", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self';") {
		t.Fatalf("anonymous /library/: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}
	if _, signedIn := fetch("/library/", srv.AdminToken); !bytes.Equal(signedIn, anonymous) {
		t.Error("the page differs for a signed-in request: it must hold no data")
	}
	if bytes.Contains(anonymous, []byte("admin@")) || bytes.Contains(anonymous, []byte("veil_tok")) {
		t.Error("the page carries user data")
	}
	if resp, _ := fetch("/library", ""); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/library/" {
		t.Errorf("/library: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, ctype := range map[string]string{"/library/js/main.js": "text/javascript; charset=utf-8", "/library/library.css": "text/css; charset=utf-8"} {
		if resp, body := fetch(path, ""); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || len(body) == 0 {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
