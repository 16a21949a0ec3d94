package main

import (
	"bytes"
	"os"
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

// TestDoctorAndReconcileReportDebris: veil doctor counts the debris reconciliation would remove
// (an object no row references, a partial .tmp file) without removing it; veil reconcile
// --dry-run lists it and removes nothing; veil reconcile removes it.
func TestDoctorAndReconcileReportDebris(t *testing.T) {
	dir := t.TempDir()
	media := filepath.Join(dir, "media")
	common := []string{"--database-url", "sqlite:" + filepath.Join(dir, "veil.db"), "--storage-url", "file://" + media, "--reconcile-grace", "0s"}
	var out, errb bytes.Buffer
	if code := run(append([]string{"migrate"}, common...), &out, &errb); code != 0 {
		t.Fatalf("migrate: %d %s", code, errb.String())
	}
	debris := []string{"originals/img_01M8DEBRIS00000000000000000/a.jpg", "documents/doc_01M8DEBRIS00000000000000000/b.pdf.18f3a9c2b4d5e6f7.tmp"}
	for _, k := range debris {
		p := filepath.Join(media, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("debris"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exists := func() int {
		n := 0
		for _, k := range debris {
			if _, err := os.Stat(filepath.Join(media, filepath.FromSlash(k))); err == nil {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		args []string
		want string
		left int
	}{
		{[]string{"doctor"}, "2 orphan(s) (12 bytes, 0 probe leftover(s))", 2},
		{[]string{"reconcile", "--dry-run"}, "would remove 2 orphan(s)", 2},
		{[]string{"reconcile"}, "removed 2 orphan(s)", 0},
		{[]string{"reconcile"}, "removed 0 orphan(s)", 0},
	} {
		out.Reset()
		errb.Reset()
		code := run(append(c.args, common...), &out, &errb)
		if code != 0 || !strings.Contains(out.String(), c.want) || exists() != c.left {
			t.Errorf("%v: exit %d, %d of the debris left (want %d), want %q in\n%s%s", c.args, code, exists(), c.left, c.want, out.String(), errb.String())
		}
	}
}
