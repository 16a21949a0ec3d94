package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeEphemeral (issue 13.7): `veil serve --ephemeral` with VEIL_BOOTSTRAP_TOKEN serves on
// an in-memory database and bucket with that admin token, prints no generated token, and leaves
// nothing on disk: not in the working folder, not in the temporary folder. A short token is a
// validation error (exit 2), and other commands refuse --ephemeral.
func TestServeEphemeral(t *testing.T) {
	bin := veilBinary(t)
	cwd, tmp := t.TempDir(), t.TempDir()
	const token = "ci-token-0123456789abcdef0123456789abcdef"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--ephemeral", "--listen", "127.0.0.1:0", "--metrics-listen", "")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "VEIL_BOOTSTRAP_TOKEN="+token, "TMPDIR="+tmp)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	var base string
	for base == "" {
		line, ok := <-lines
		if !ok {
			t.Fatalf("veil exited before serving:\n%s", out.String())
		}
		out.WriteString(line + "\n")
		if m := regexp.MustCompile(`Veil is running at (http://\S+)`).FindStringSubmatch(line); m != nil {
			base = m[1]
		}
	}
	go func() {
		for line := range lines {
			out.WriteString(line + "\n")
		}
	}()
	query := func(tok string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/graphql", strings.NewReader(`{"query":"{ me { email isAdmin } images(first: 1) { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := query(token); code != 200 || !strings.Contains(body, `"isAdmin":true`) || !strings.Contains(body, `"totalCount":0`) {
		t.Errorf("admin query: %d %s", code, body)
	}
	if code, _ := query(token[:len(token)-1] + "X"); code != http.StatusUnauthorized {
		t.Errorf("a different token: %d, want 401", code)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, out.String())
	}
	pw.Close()
	if regexp.MustCompile(`(?m)^    veil_\S+$`).MatchString(out.String()) {
		t.Errorf("printed a generated token:\n%s", out.String())
	}
	for _, dir := range []string{cwd, tmp} {
		var left []string
		_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && p != dir {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("left on disk: %v", left)
		}
	}

	if code, out := runVeil(t, t.TempDir(), []string{"VEIL_BOOTSTRAP_TOKEN=short"}, "serve", "--ephemeral", "--listen", "127.0.0.1:0"); code != 2 || !strings.Contains(out, "VEIL_BOOTSTRAP_TOKEN") {
		t.Errorf("short token: exit %d\n%s", code, out)
	}
	if code, out := runVeil(t, t.TempDir(), nil, "migrate", "--ephemeral"); code != 2 || !strings.Contains(out, "only veil serve") {
		t.Errorf("migrate --ephemeral: exit %d\n%s", code, out)
	}
}
