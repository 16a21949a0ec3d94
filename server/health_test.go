package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// TestReadyzReportsPermissionStrategy: /readyz names the file-permission strategy (or proxy-only
// with its reason) and how many items drift.
func TestReadyzReportsPermissionStrategy(t *testing.T) {
	type report struct {
		Ready           bool
		FilePermissions struct {
			Strategy string
			Reason   string
			Outdated *int
		}
	}
	get := func(srv *veiltest.Server) report {
		t.Helper()
		resp, body := srv.Get(t, "/readyz", nil)
		var r report
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
			t.Fatalf("readyz: %d %s", resp.StatusCode, body)
		}
		return r
	}
	withACL := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ACL: storage.NewMemACL(storage.MemACLOptions{})})
	if r := get(withACL); !r.Ready || r.FilePermissions.Strategy != "mem" || r.FilePermissions.Outdated == nil || *r.FilePermissions.Outdated != 0 {
		t.Errorf("with the mem driver: %+v", r)
	}
	proxy := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	proxy.Media.UseProxyOnly("azblob:// has no per-blob public access")
	proxy.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)
	r := get(proxy)
	if r.FilePermissions.Strategy != "proxy-only" || r.FilePermissions.Reason != "azblob:// has no per-blob public access" {
		t.Errorf("proxy-only: %+v", r)
	}
}
