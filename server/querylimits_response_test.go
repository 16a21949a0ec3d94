package server_test

import (
	"testing"

	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// TestOutputAmplificationResponseBytes (issue 14 item 11): a response over
// VEIL_MAX_RESPONSE_BYTES is replaced by one RESPONSE_TOO_LARGE error instead of being sent.
func TestOutputAmplificationResponseBytes(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	cfg.MaxResponseBytes = 16 << 10
	small := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &cfg})
	seedImages(t, small, 60)
	r := small.As("").GraphQL(imagesFirst50, nil) // anonymous: the private images are hidden
	if len(r.Errors) > 0 {
		t.Fatalf("anonymous page: %s", r.Raw)
	}
	r = small.GraphQL(imagesFirst50, nil)
	e := wantCode(t, r.Raw, "RESPONSE_TOO_LARGE")
	if e.Extensions["setting"] != "VEIL_MAX_RESPONSE_BYTES" || len(r.Raw) > 4096 {
		t.Errorf("error %+v, %d bytes", e, len(r.Raw))
	}
	// Under the limit, the same server answers.
	if r := small.GraphQL(`{ images(first: 5) { nodes { id title } } }`, nil); len(r.Errors) > 0 {
		t.Errorf("small page refused: %s", r.Raw)
	}
}
