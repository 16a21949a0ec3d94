package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/renditions"
	"github.com/veil-media/veil/veiltest"
)

// TestAVIFOverMemoryBudgetIs503 (issue 14, item 5): an AVIF rendition whose estimated memory
// (decode, resize and the encoder's WebAssembly memory) is over VEIL_RENDITION_MAX_MEMORY cannot
// start: it is answered 503 with Retry-After at once, without generating anything, and a
// rendition that fits is still made. Before, the estimate ignored the encoder and was clamped to
// the budget, so the AVIF ran anyway (75 s and 2 GB for a large one).
func TestAVIFOverMemoryBudgetIs503(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.Renditions.MaxMemoryBytes = 16 << 20 // the smallest VEIL_RENDITION_MAX_MEMORY allowed
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)

	r := renditionOf(t, srv, img.ID, "width-1200|format-avif|avifquality-100")
	resp, body := srv.Get(t, r.URL, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over-budget AVIF: %d, Retry-After %q, body %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), short(body))
	}
	if !strings.Contains(string(body), "VEIL_RENDITION_MAX_MEMORY") {
		t.Errorf("body %q does not name the setting", body)
	}
	if n := srv.Media.Generated(); n != 0 {
		t.Errorf("%d renditions generated, want none", n)
	}
	small := renditionOf(t, srv, img.ID, "width-100")
	if resp, body := srv.Get(t, small.URL, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("a rendition within the budget: %d %s", resp.StatusCode, short(body))
	}
}

// TestAVIFTimeoutIs503 (issue 14, item 5): an AVIF encode still running when
// VEIL_RENDITION_TIMEOUT passes is stopped (its WebAssembly memory released) and answered 503
// with Retry-After, not 500; nothing is stored, and the server goes on serving. Before, the
// encoder ignored the deadline, ran to the end, and the write that followed failed with the
// expired context: a 500.
func TestAVIFTimeoutIs503(t *testing.T) {
	cfg := media.DefaultConfig()
	// Far less than a quality-100 AVIF of 3.9 megapixels takes in WebAssembly (many seconds),
	// far more than decoding the 640×400 source and admitting the generation.
	cfg.Renditions.Timeout = time.Second
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/orientation-1.jpg")), nil)

	r := renditionOf(t, srv, img.ID, "scale-390|format-avif|avifquality-100") // 2496×1560
	resp, body := srv.Get(t, r.URL, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("timed-out AVIF: %d, Retry-After %q, body %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), short(body))
	}
	if n := srv.Media.Generated(); n != 0 {
		t.Errorf("%d renditions generated, want none", n)
	}
	if n := renditions.EncoderMemoryInUse(); n != 0 {
		t.Errorf("%d bytes of encoder memory still held after the timeout", n)
	}
	if resp, body := srv.Get(t, renditionOf(t, srv, img.ID, "width-100").URL, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("next rendition: %d %s", resp.StatusCode, short(body))
	}
}

// short keeps an error message readable when a body is an image.
func short(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
