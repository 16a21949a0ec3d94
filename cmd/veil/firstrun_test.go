package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runVeil runs the veil binary in dir with env added; a serve that starts is stopped with SIGTERM
// once it prints its address. It returns the exit code and everything printed (stdout+stderr).
func runVeil(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	bin := veilBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Veil is running at") {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		}
	}()
	err := cmd.Wait()
	pw.Close()
	<-read
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatalf("veil %v: %v\n%s", args, err, out.String())
	}
	return 0, out.String()
}

var tokenLine = regexp.MustCompile(`(?m)^    veil_\S+$`)

// TestBindFailureCreatesNothing (issue 15.4): a start that cannot bind its port creates no data
// dir and no admin, so the next start prints the one-time token.
func TestBindFailureCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, out := runVeil(t, dir, nil, "serve", "--listen", busy.Addr().String())
	if code != 1 || !strings.Contains(out, "cannot listen on") {
		t.Fatalf("serve on a busy port: exit %d\n%s", code, out)
	}
	if tokenLine.MatchString(out) {
		t.Errorf("a failed start printed a token:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("a failed start created the data dir (stat: %v)", err)
	}
	code, out = runVeil(t, dir, nil, "serve", "--listen", "127.0.0.1:0")
	if code != 0 || !tokenLine.MatchString(out) {
		t.Fatalf("the next start printed no token: exit %d\n%s", code, out)
	}
}

// TestInstanceIsNamedAndNeverCreatedByMistake (issue 15.5): every command prints the data dir
// and database it works on; token create (and doctor, retry-permissions) never create an
// instance; serve creates one below the current folder with a loud notice, and elsewhere only with
// --init.
func TestInstanceIsNamedAndNeverCreatedByMistake(t *testing.T) {
	elsewhere := t.TempDir()
	for _, args := range [][]string{{"token", "create", "--admin"}, {"retry-permissions"}} {
		code, out := runVeil(t, elsewhere, nil, args...)
		if code != 1 || !strings.Contains(out, "no Veil instance at "+filepath.Join(elsewhere, "data")) {
			t.Errorf("veil %v from a folder without an instance: exit %d\n%s", args, code, out)
		}
		if _, err := os.Stat(filepath.Join(elsewhere, "data")); !os.IsNotExist(err) {
			t.Fatalf("veil %v created a data dir (stat: %v)", args, err)
		}
	}

	outside := filepath.Join(t.TempDir(), "veil-data")
	code, out := runVeil(t, elsewhere, []string{"VEIL_DATA_DIR=" + outside}, "serve", "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, "--init") {
		t.Fatalf("serve creating a data dir outside the current folder: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Fatalf("refused serve created %s", outside)
	}
	code, out = runVeil(t, elsewhere, []string{"VEIL_DATA_DIR=" + outside}, "serve", "--init", "--listen", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "NEW INSTANCE: "+outside) || !strings.Contains(out, "veil: instance "+outside+" (database sqlite:"+filepath.Join(outside, "veil.db")) {
		t.Fatalf("serve --init: exit %d\n%s", code, out)
	}
	// The instance now exists: no notice, and token create works on it, naming it.
	code, out = runVeil(t, elsewhere, []string{"VEIL_DATA_DIR=" + outside}, "token", "create", "--admin")
	if code != 0 || strings.Contains(out, "NEW INSTANCE") || !strings.Contains(out, "veil: instance "+outside) || !regexp.MustCompile(`veil_\S+`).MatchString(out) {
		t.Fatalf("token create on the existing instance: exit %d\n%s", code, out)
	}
	// The default ./data below the current folder is created without --init, loudly.
	code, out = runVeil(t, elsewhere, nil, "serve", "--listen", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "NEW INSTANCE: "+filepath.Join(elsewhere, "data")) {
		t.Fatalf("first serve in a folder: exit %d\n%s", code, out)
	}
}

// TestSecretChangeWarns (issue 15.7): VEIL_SECRET set on a data dir whose generated secret differs
// warns that old rendition URLs stop verifying and how to keep them; listing the old secret in
// VEIL_RENDITION_OLD_SECRETS silences it.
func TestSecretChangeWarns(t *testing.T) {
	dir := t.TempDir()
	if code, out := runVeil(t, dir, nil, "serve", "--listen", "127.0.0.1:0"); code != 0 {
		t.Fatalf("first start: %d\n%s", code, out)
	}
	generated, err := os.ReadFile(filepath.Join(dir, "data", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	newSecret := "VEIL_SECRET=" + strings.Repeat("n", 40)
	code, out := runVeil(t, dir, []string{newSecret}, "serve", "--listen", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "WARNING: VEIL_SECRET differs") || !strings.Contains(out, "VEIL_RENDITION_OLD_SECRETS") {
		t.Fatalf("changed secret: exit %d, no warning\n%s", code, out)
	}
	code, out = runVeil(t, dir, []string{newSecret, "VEIL_RENDITION_OLD_SECRETS=" + strings.TrimSpace(string(generated))}, "serve", "--listen", "127.0.0.1:0")
	if code != 0 || strings.Contains(out, "WARNING") {
		t.Fatalf("old secret kept: exit %d\n%s", code, out)
	}
}

// TestHelpVersionAndListenValidation (issue 15.8): -h exits 0 for every command, version names the
// Go version, and a bad listen address is a validation error (exit 2) with a suggestion.
func TestHelpVersionAndListenValidation(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"serve", "-h"}, {"migrate", "-h"}, {"doctor", "-h"}, {"token", "-h"},
		{"token", "create", "-h"}, {"retry-permissions", "-h"}, {"render", "-h"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Errorf("veil %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	run([]string{"serve", "-h"}, &out, &errb)
	for _, want := range []string{"--max-image-bytes size", "--rendition-timeout duration", "--max-complexity int", "--introspection bool", "--listen string", "[VEIL_LISTEN]"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("serve -h lacks %q:\n%s", want, errb.String())
		}
	}
	out.Reset()
	run([]string{"version"}, &out, io.Discard)
	if !strings.Contains(out.String(), "go1.") || !strings.Contains(out.String(), "commit ") {
		t.Errorf("version: %s", out.String())
	}
	for listen, want := range map[string]string{
		"99999":           "not host:port",
		":99999":          "0 to 65535",
		"8081":            `did you mean ":8081"`,
		"localhost:http2": "not a number",
		"127.0.0.1":       "not host:port",
	} {
		errb.Reset()
		code := run([]string{"serve", "--listen", listen}, io.Discard, &errb)
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("--listen %s: exit %d, want 2 and %q\n%s", listen, code, want, errb.String())
		}
	}
}

// TestREADMEListsEveryFlag (issue 15.8): the README's configuration table and `veil serve -h`
// name the same settings.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `VEIL_") {
			cell := strings.SplitN(line, "|", 3)[1]
			for _, m := range regexp.MustCompile("`(VEIL_[A-Z0-9_]+)`").FindAllStringSubmatch(cell, -1) {
				inTable[m[1]] = true
			}
		}
	}
	var errb bytes.Buffer
	run([]string{"serve", "-h"}, io.Discard, &errb)
	inHelp := map[string]bool{}
	for _, m := range regexp.MustCompile(`\[(VEIL_[A-Z0-9_]+)\]`).FindAllStringSubmatch(errb.String(), -1) {
		inHelp[m[1]] = true
	}
	if len(inHelp) < 30 {
		t.Fatalf("serve -h names only %d settings:\n%s", len(inHelp), errb.String())
	}
	for env := range inHelp {
		if !inTable[env] {
			t.Errorf("README's configuration table lacks %s", env)
		}
	}
	for env := range inTable {
		if !inHelp[env] {
			t.Errorf("README's configuration table lists %s, which veil serve does not take", env)
		}
	}
}
