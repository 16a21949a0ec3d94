package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runAsNobody runs the veil binary as uid/gid 65534 with env and returns its exit code and output.
func runAsNobody(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	bin := veilBinary(t)
	_ = os.Chmod(filepath.Dir(bin), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + dir}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	return code, string(out)
}

// TestStorageDiagnosisAsUnprivilegedUser: a media folder that cannot be created, one that is not
// writable, and one on a read-only file system each stop `veil serve` (and fail `veil doctor`)
// with one message naming the path, the operation, the OS error, the uid/gid, the owner and mode
// of the nearest existing folder, and a fix.
func TestStorageDiagnosisAsUnprivilegedUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the server as uid 65534")
	}
	root := t.TempDir()
	for d := root; d != "/"; d = filepath.Dir(d) { // let nobody reach the test folders
		fi, _ := os.Stat(d)
		_ = os.Chmod(d, fi.Mode().Perm()|0o005)
	}
	work := filepath.Join(root, "work")
	_ = os.MkdirAll(work, 0o777)
	_ = os.Chmod(work, 0o777)
	locked := filepath.Join(root, "locked") // owned by root, 0755: nobody cannot create inside
	_ = os.MkdirAll(locked, 0o755)
	existing := filepath.Join(root, "existing-media") // owned by root, 0755: nobody cannot write
	_ = os.MkdirAll(existing, 0o755)

	cases := []struct {
		name, storage, op, path string
	}{
		{"missing folder, unwritable parent", "file://" + filepath.Join(locked, "media"), "create folder", filepath.Join(locked, "media")},
		{"existing folder not writable", "file://" + existing, "write a file in", existing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := []string{"VEIL_STORAGE_URL=" + c.storage, "VEIL_DATABASE_URL=sqlite:" + filepath.Join(work, "veil.db"), "VEIL_DATA_DIR=" + filepath.Join(work, "data")}
			for _, cmd := range []string{"serve", "doctor"} {
				code, out := runAsNobody(t, work, env, cmd, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
				if code == 0 {
					t.Fatalf("veil %s succeeded:\n%s", cmd, out)
				}
				for _, want := range []string{c.path, c.op, "permission denied", "uid=65534 gid=65534", "owned by uid=0 gid=0", "mode", "fix:"} {
					if !strings.Contains(out, want) {
						t.Errorf("veil %s output lacks %q:\n%s", cmd, want, out)
					}
				}
			}
		})
	}

	t.Run("read-only file system", func(t *testing.T) {
		ro := filepath.Join(root, "ro")
		_ = os.MkdirAll(ro, 0o777)
		if out, err := exec.Command("mount", "--bind", "-o", "ro", ro, ro).CombinedOutput(); err != nil {
			t.Skipf("cannot make a read-only bind mount here: %v %s", err, out)
		}
		defer exec.Command("umount", ro).Run()
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
			t.Skipf("cannot remount read-only: %v %s", err, out)
		}
		env := []string{"VEIL_STORAGE_URL=file://" + filepath.Join(ro, "media"), "VEIL_DATABASE_URL=sqlite:" + filepath.Join(work, "veil2.db")}
		code, out := runAsNobody(t, work, env, "doctor")
		if code == 0 || !strings.Contains(out, "read-only") || !strings.Contains(out, filepath.Join(ro, "media")) {
			t.Errorf("doctor on a read-only file system: %d\n%s", code, out)
		}
	})
}

// TestGracefulShutdownFinishesUploads: SIGTERM in the middle of an upload lets it finish; the
// process then exits 0.
func TestGracefulShutdownFinishesUploads(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(veilBinary(t), "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VEIL_DATA_DIR="+filepath.Join(dir, "data"))
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var url, token string
	buf := make([]byte, 4096)
	var seen strings.Builder
	deadline := time.Now().Add(20 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		seen.Write(buf[:n])
		for _, l := range strings.Split(seen.String(), "\n") {
			if m := runningRE.FindStringSubmatch(l); m != nil {
				url = m[1]
			}
			if strings.HasPrefix(strings.TrimSpace(l), "veil_") {
				token = strings.TrimSpace(l)
			}
		}
		if err != nil {
			break
		}
	}
	if url == "" || token == "" {
		t.Fatalf("no start: %s %s", seen.String(), stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/graphql", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id fileSize } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "slow.txt")
	chunk := bytes.Repeat([]byte("veil is shutting down gracefully\n"), 32*1024) // ~1 MiB
	const chunks = 20
	for i := 0; i < chunks; i++ {
		if _, err := fw.Write(chunk); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if i == 3 {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = mw.Close()
	_ = pw.Close()
	select {
	case res := <-done:
		if !strings.Contains(res, fmt.Sprintf(`"fileSize":%d`, chunks*len(chunk))) {
			t.Fatalf("upload during shutdown: %s\n%s", res, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("upload did not finish")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
}

// TestDataDirDiagnosisAsUnprivilegedUser (issue 15.6): a data dir made by root (the database file,
// media folder and secret inside it), and one root keeps closed (0700), stop `veil serve` as
// another user with one diagnosis naming every path it cannot use and one command; running that
// command (as root) lets the next start succeed.
func TestDataDirDiagnosisAsUnprivilegedUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the server as uid 65534")
	}
	root := t.TempDir()
	for d := root; d != "/"; d = filepath.Dir(d) { // let nobody reach the test folders
		fi, _ := os.Stat(d)
		_ = os.Chmod(d, fi.Mode().Perm()|0o005)
	}
	for _, c := range []struct {
		name string
		mode os.FileMode
		want []string
	}{
		{"made by root", 0o755, []string{"cannot create files in the data dir", "veil.db: cannot read and write", "media: cannot read and write", "secret: cannot read and write"}},
		{"closed by root", 0o700, []string{"cannot enter the data dir"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			work := filepath.Join(root, strings.ReplaceAll(c.name, " ", "-"))
			_ = os.MkdirAll(work, 0o777)
			_ = os.Chmod(work, 0o777)
			data := filepath.Join(work, "data")
			// A first start as root makes the instance root's.
			if code, out := runVeil(t, work, nil, "serve", "--listen", "127.0.0.1:0"); code != 0 {
				t.Fatalf("start as root: %d\n%s", code, out)
			}
			_ = os.Chmod(data, c.mode)
			code, out := runAsNobody(t, work, nil, "serve", "--listen", "127.0.0.1:0")
			if code != 1 {
				t.Fatalf("serve as nobody on root's data dir: exit %d\n%s", code, out)
			}
			for _, want := range append(c.want, "uid=65534 gid=65534", "owned by uid=0 gid=0", "fix (one command): ") {
				if !strings.Contains(out, want) {
					t.Errorf("diagnosis lacks %q:\n%s", want, out)
				}
			}
			fix := out[strings.Index(out, "fix (one command): ")+len("fix (one command): "):]
			fix = strings.TrimSpace(fix[:strings.Index(fix, "   (")])
			if out, err := exec.Command("sh", "-c", strings.ReplaceAll(fix, "sudo ", "")).CombinedOutput(); err != nil {
				t.Fatalf("the fix %q: %v\n%s", fix, err, out)
			}
			// runAsNobody stops a started serve only at its 20 s deadline; doctor checks the same.
			if code, out := runAsNobody(t, work, nil, "doctor"); code != 0 {
				t.Fatalf("after the fix %q, doctor as nobody: exit %d\n%s", fix, code, out)
			}
		})
	}
}
