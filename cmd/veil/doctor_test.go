package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctorReportsPermissionStrategy: veil doctor names the file-permission strategy the bucket
// supports, reports proxy-only with its reason, and fails on a configured strategy the bucket
// cannot do.
func TestDoctorReportsPermissionStrategy(t *testing.T) {
	dir := t.TempDir()
	base := []string{"doctor", "--database-url", "sqlite:" + filepath.Join(dir, "veil.db")}
	for _, c := range []struct {
		storage, acl string
		code         int
		want         string
	}{
		{"file://" + filepath.Join(dir, "media"), "auto", 0, "ok: file-mode"},
		{"mem://", "auto", 0, "ok: mem"},
		{"mem://", "none", 0, "proxy-only"},
		{"mem://", "file-mode", 1, "FAIL: VEIL_STORAGE_ACL: file-mode needs a file:// bucket"},
		{"mem://", "s3-acl", 1, "FAIL: VEIL_STORAGE_ACL"},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{}, base...), "--storage-url", c.storage, "--storage-acl", c.acl)
		code := run(args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("%s with %s: exit %d, want %d and %q\n%s%s", c.storage, c.acl, code, c.code, c.want, out.String(), errb.String())
		}
	}
}
