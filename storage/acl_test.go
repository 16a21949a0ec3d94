package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/veil-media/veil/storage"
)

// aclHarness lets the shared suite observe a driver's effect independently of the driver.
type aclHarness struct {
	store *storage.Store
	acl   storage.ACL
	// observe reports whether key is public, as the outside world sees it.
	observe func(t *testing.T, key string) bool
	// knowsBucket: the driver reports missing objects (mem and simulate do not look at the bucket).
	knowsBucket bool
	// changes: the driver really changes permissions (simulate does not).
	changes bool
}

func runACLConformance(t *testing.T, h aclHarness) {
	ctx := context.Background()
	put := func(t *testing.T, key string) {
		if _, err := h.store.Write(ctx, key, "image/jpeg", strings.NewReader("bytes of "+key)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("public then private, idempotent", func(t *testing.T) {
		key := "originals/img_A/a.jpg"
		put(t, key)
		before := h.observe(t, key)
		for _, public := range []bool{true, true, false, false, true} {
			if err := h.acl.SetPublic(ctx, key, public); err != nil {
				t.Fatalf("SetPublic(%v): %v", public, err)
			}
			want := public
			if !h.changes {
				want = before
			}
			if got := h.observe(t, key); got != want {
				t.Fatalf("after SetPublic(%v): public = %v, want %v", public, got, want)
			}
		}
	})
	t.Run("nested keys", func(t *testing.T) {
		key := "renditions/img_B/deep/er/x.webp"
		put(t, key)
		if err := h.acl.SetPublic(ctx, key, true); err != nil {
			t.Fatal(err)
		}
		if h.changes && !h.observe(t, key) {
			t.Fatal("nested key not public")
		}
	})
	t.Run("missing object", func(t *testing.T) {
		err := h.acl.SetPublic(ctx, "originals/img_missing/none.jpg", true)
		if h.knowsBucket && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		key := "originals/img_C/c.jpg"
		put(t, key)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := h.acl.SetPublic(cctx, key, true); err == nil {
			t.Fatal("a cancelled call succeeded")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			key := fmt.Sprintf("originals/img_D%02d/d.jpg", i)
			put(t, key)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.acl.SetPublic(ctx, key, i%2 == 0); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if h.changes {
			for i := range 50 {
				if got := h.observe(t, fmt.Sprintf("originals/img_D%02d/d.jpg", i)); got != (i%2 == 0) {
					t.Errorf("key %d: public = %v", i, got)
				}
			}
		}
	})
}

func TestFileACLConformance(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "media")
	store, err := storage.Open(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	acl := storage.NewFileACL(dir)
	runACLConformance(t, aclHarness{store: store, acl: acl, knowsBucket: true, changes: true,
		observe: func(t *testing.T, key string) bool {
			fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
			if err != nil {
				t.Fatal(err)
			}
			return fi.Mode().Perm()&0o044 == 0o044
		}})

	// The check that matters: another user (a front web server) can read a public file and cannot
	// read a private one. Root ignores modes, so read as uid 65534 in a child process.
	if os.Getuid() != 0 {
		t.Skip("not root: cannot run a child as another uid")
	}
	// The folders above the bucket are the deployment's business; make them traversable here.
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		fi, _ := os.Stat(d)
		_ = os.Chmod(d, fi.Mode().Perm()|0o001)
	}
	key := "originals/img_E/e.jpg"
	if _, err := store.Write(context.Background(), key, "image/jpeg", strings.NewReader("secret pixels")); err != nil {
		t.Fatal(err)
	}
	readAsNobody := func() error {
		cmd := exec.Command("cat", filepath.Join(dir, key))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cmd.Run()
	}
	for _, public := range []bool{true, false, true, false} {
		if err := acl.SetPublic(context.Background(), key, public); err != nil {
			t.Fatal(err)
		}
		if err := readAsNobody(); (err == nil) != public {
			t.Errorf("public=%v: read by uid 65534 err = %v", public, err)
		}
	}
	// Folder listings stay closed to others.
	cmd := exec.Command("ls", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Run(); err == nil {
		t.Error("uid 65534 can list the media folder")
	}
}

func TestMemACLConformance(t *testing.T) {
	store, err := storage.Open(context.Background(), storage.Config{URL: "mem://"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	acl := storage.NewMemACL(storage.MemACLOptions{})
	runACLConformance(t, aclHarness{store: store, acl: acl, changes: true,
		observe: func(t *testing.T, key string) bool { p, _ := acl.State(key); return p }})
}

func TestMemACLFaults(t *testing.T) {
	ctx := context.Background()
	acl := storage.NewMemACL(storage.MemACLOptions{FailRate: 0.1, Seed: 7})
	failed := 0
	for i := range 1000 {
		if err := acl.SetPublic(ctx, fmt.Sprint("k", i), true); err != nil {
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("failure is not ErrUnavailable: %v", err)
			}
			failed++
		}
	}
	if failed < 70 || failed > 130 || acl.Calls() != 1000 {
		t.Errorf("failed %d of %d calls with FailRate 0.1", failed, acl.Calls())
	}
	acl.SetFail(func(key string, public bool) error {
		if key == "bad" {
			return storage.ErrUnavailable
		}
		return nil
	})
	if acl.SetPublic(ctx, "bad", true) == nil || acl.SetPublic(ctx, "good", true) != nil {
		t.Error("Fail hook not applied")
	}
	slow := storage.NewMemACL(storage.MemACLOptions{Latency: 50 * time.Millisecond})
	start := time.Now()
	if err := slow.SetPublic(ctx, "k", true); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Errorf("latency not honoured: %v after %v", err, time.Since(start))
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	if err := slow.SetPublic(cctx, "k", true); err == nil {
		t.Error("latency wait ignored the context")
	}
}

func TestSimulateACLConformance(t *testing.T) {
	dir := t.TempDir()
	store, err := storage.Open(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs bytes.Buffer
	acl := storage.NewSimulateACL(slog.New(slog.NewTextHandler(&logs, nil)))
	runACLConformance(t, aclHarness{store: store, acl: acl, changes: false,
		observe: func(t *testing.T, key string) bool {
			fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
			if err != nil {
				t.Fatal(err)
			}
			return fi.Mode().Perm()&0o044 == 0o044
		}})
	if !strings.Contains(logs.String(), "would set file permission") || !strings.Contains(logs.String(), "originals/img_A/a.jpg") {
		t.Errorf("simulate did not log: %s", logs.String())
	}
}

func TestACLFor(t *testing.T) {
	fileStore, _ := storage.Open(context.Background(), storage.Config{URL: "file://" + t.TempDir()})
	memStore, _ := storage.Open(context.Background(), storage.Config{URL: "mem://"})
	for _, c := range []struct {
		store      *storage.Store
		name, want string
	}{{fileStore, "auto", "file-mode"}, {memStore, "", "mem"}, {fileStore, "simulate", "simulate"}, {memStore, "mem", "mem"}} {
		acl, err := storage.ACLFor(context.Background(), c.store, c.name, nil)
		if err != nil || acl.Name() != c.want {
			t.Errorf("ACLFor(%s, %q) = %v, %v; want %s", c.store.Scheme, c.name, acl, err, c.want)
		}
	}
	if _, err := storage.ACLFor(context.Background(), memStore, "file-mode", nil); err == nil {
		t.Error("file-mode on a mem bucket accepted")
	}
	if _, err := storage.ACLFor(context.Background(), memStore, "bogus", nil); err == nil {
		t.Error("unknown driver accepted")
	}
}
