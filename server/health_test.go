package server_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	proxy := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ProxyReason: "azblob:// has no per-blob public access"})
	proxy.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)
	r := get(proxy)
	if r.FilePermissions.Strategy != "proxy-only" || r.FilePermissions.Reason != "azblob:// has no per-blob public access" {
		t.Errorf("proxy-only: %+v", r)
	}
}

// TestReadyzProbesEachPrefix (issue 9.4): readiness probes every prefix Veil writes and reports
// each. Only originals/ read-only → 503 naming originals/; only the top folder read-only (the
// prefixes writable, as uploads need) → 200; no probe object is left behind either way.
// Read-only bind mounts stand in for unwritable folders (root ignores file modes).
func TestReadyzProbesEachPrefix(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for bind mounts")
	}
	bindRO := func(t *testing.T, dir string) {
		t.Helper()
		if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
			t.Skipf("cannot bind-mount here: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot remount read-only: %v %s", err, out)
		}
	}
	bindRW := func(t *testing.T, from, onto string) {
		t.Helper()
		if out, err := exec.Command("mount", "--bind", from, onto).CombinedOutput(); err != nil {
			t.Skipf("cannot bind-mount here: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", onto).Run() })
	}
	type report struct {
		Ready           bool
		Storage         string
		StoragePrefixes map[string]string
	}
	readyz := func(t *testing.T, srv *veiltest.Server) (int, report) {
		t.Helper()
		resp, body := srv.Get(t, "/readyz", nil)
		var r report
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("readyz: %d %s", resp.StatusCode, body)
		}
		return resp.StatusCode, r
	}
	leftovers := func(t *testing.T, dir string) []string {
		var found []string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.Contains(d.Name(), "veil-probe") {
				found = append(found, p)
			}
			return nil
		})
		return found
	}

	t.Run("originals read-only", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "media")
		for _, p := range storage.Prefixes {
			_ = os.MkdirAll(filepath.Join(dir, p), 0o750)
		}
		srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: "file://" + dir})
		bindRO(t, filepath.Join(dir, "originals"))
		code, r := readyz(t, srv)
		if code != http.StatusServiceUnavailable || r.Ready || !strings.Contains(r.Storage, "originals/") ||
			r.StoragePrefixes["originals/"] == "ok" || r.StoragePrefixes["documents/"] != "ok" || r.StoragePrefixes["renditions/"] != "ok" {
			t.Errorf("readyz with originals/ read-only: %d %+v", code, r)
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("probe objects left behind: %v", l)
		}
	})

	t.Run("top folder read-only, prefixes writable", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "media")
		writable := t.TempDir()
		for _, p := range storage.Prefixes {
			_ = os.MkdirAll(filepath.Join(dir, p), 0o750)
			_ = os.MkdirAll(filepath.Join(writable, p), 0o750)
		}
		srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: "file://" + dir})
		bindRO(t, dir)
		for _, p := range storage.Prefixes {
			bindRW(t, filepath.Join(writable, p), filepath.Join(dir, p))
		}
		code, r := readyz(t, srv)
		if code != http.StatusOK || !r.Ready || len(r.StoragePrefixes) != 3 {
			t.Fatalf("readyz with only the top folder read-only: %d %+v", code, r)
		}
		// And uploads do work there.
		up := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)
		if up.ID == "" {
			t.Fatal("upload failed")
		}
		if l := leftovers(t, writable); len(l) > 0 {
			t.Errorf("probe objects left behind: %v", l)
		}
	})
}
