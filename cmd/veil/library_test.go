package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/veil-media/veil/storage"
)

// TestTokenCreatePrintsLibraryLink (issue 12): `veil token create` keeps the bare token alone on
// stdout for scripts and prints, on stderr, a link to the media library whose fragment carries it:
// at VEIL_PUBLIC_URL when set, else at the listen address.
func TestTokenCreatePrintsLibraryLink(t *testing.T) {
	dir := t.TempDir()
	if code, out := runVeil(t, dir, nil, "serve", "--listen", "127.0.0.1:0"); code != 0 {
		t.Fatalf("first start: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	for _, c := range []struct {
		args []string
		base string
	}{
		{[]string{"--listen", "127.0.0.1:8123"}, "http://127.0.0.1:8123"},
		{[]string{"--listen", ":8124"}, "http://localhost:8124"},
		{[]string{"--public-url", "https://media.example/"}, "https://media.example"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"token", "create", "--admin", "--data-dir", data, "--metrics-listen", ""}, c.args...)
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", c.args, code, stdout.String(), stderr.String())
		}
		tok := strings.TrimSpace(stdout.String())
		if !regexp.MustCompile(`^veil_\S+$`).MatchString(tok) {
			t.Fatalf("%v: stdout is not the bare token: %q", c.args, stdout.String())
		}
		if want := c.base + "/library/#token=" + tok; !strings.Contains(stderr.String(), want+"\n") {
			t.Errorf("%v: stderr lacks %s:\n%s", c.args, want, stderr.String())
		}
	}
}

// TestMemACLFaults: VEIL_TEST_MEM_ACL_FAULTS (environment only, not in the help) needs the mem
// driver, and makes its permission calls fail (as storage unavailable) for keys containing a line
// of the file, read on every call, so a test turns a fault on and off while the server runs.
func TestMemACLFaults(t *testing.T) {
	faults := filepath.Join(t.TempDir(), "faults")
	load := func(args ...string) *Config {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg, err := loadConfig(fs, append([]string{"--data-dir", t.TempDir()}, args...))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if acl, err := faultyMemACL(load("--storage-acl", "mem")); acl != nil || err != nil {
		t.Fatalf("unset: %v, %v; want no driver", acl, err)
	}
	t.Setenv("VEIL_TEST_MEM_ACL_FAULTS", faults)
	if _, err := faultyMemACL(load()); err == nil || !strings.Contains(err.Error(), "VEIL_TEST_MEM_ACL_FAULTS") {
		t.Errorf("without the mem driver: %v, want an error naming the setting", err)
	}
	acl, err := faultyMemACL(load("--storage-acl", "mem"))
	if err != nil || acl == nil || acl.Name() != "mem" {
		t.Fatalf("faultyMemACL: %v, %v", acl, err)
	}
	ctx := context.Background()
	hit, miss := "originals/img_A/a.jpg", "originals/img_B/b.jpg"
	check := func(stage, key string, wantFail bool) {
		t.Helper()
		err := acl.SetPublic(ctx, key, true)
		if wantFail != (err != nil) || (err != nil && !errors.Is(err, storage.ErrUnavailable)) {
			t.Errorf("%s: SetPublic(%s) = %v, want failure %v (storage.ErrUnavailable)", stage, key, err, wantFail)
		}
	}
	check("no file", hit, false)
	if err := os.WriteFile(faults, []byte("\n  img_A \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("img_A listed", hit, true)
	check("img_A listed", miss, false)
	if err := os.WriteFile(faults, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	check("empty file", hit, false)
}
