//go:build unix

package veiltest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// varnishVCL is the configuration StartVarnish runs: Varnish's built-in caching (it honours
// Cache-Control and caches 200 and 302 answers by default, without forcing any TTL), plus PURGE
// from loopback, and X-Cache: HIT or MISS on every answer for tests to read.
const varnishVCL = `vcl 4.1;

backend veil {
    .host = %q;
    .port = %q;
}

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    # The built-in VCL pipes methods it does not know, PURGE among them: handle it first.
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed"));
        }
        return (purge);
    }
    # The built-in VCL passes these too; said here so that it stays true.
    if (req.http.Authorization) {
        return (pass);
    }
    # Fall through to the built-in vcl_recv.
}

sub vcl_purge {
    return (synth(200, "Purged"));
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
`

// varnishReadyPath is purged to learn that Varnish answers: a PURGE never reaches the backend.
const varnishReadyPath = "/.veiltest-ready"

// StartVarnish runs a real Varnish (varnishd from the Debian package varnish) in front of backend
// ("host:port" or "http://host:port") on a free 127.0.0.1 port, and returns its base URL
// ("http://127.0.0.1:port"). It returns once Varnish answers HTTP, and stops it (its whole process
// group) when the test ends; varnishd's output is logged if the test failed. The cache keys on
// the Host header and path as usual, so a URL is purged by sending PURGE for it with the same
// Host. Without varnishd the test is skipped: .ci/run installs the package.
func StartVarnish(t testing.TB, backend string) string {
	t.Helper()
	bin := varnishd()
	if bin == "" {
		t.Skip("varnishd is not installed (.ci/run installs the Debian package varnish: apt-get install --no-install-recommends varnish)")
	}
	hostPort := backend
	if strings.Contains(backend, "://") {
		u, err := url.Parse(backend)
		if err != nil || u.Scheme != "http" || (u.Path != "" && u.Path != "/") {
			t.Fatalf("veiltest: varnish backend %q: want host:port or http://host:port", backend)
		}
		hostPort = u.Host
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil || host == "" || port == "" {
		t.Fatalf("veiltest: varnish backend %q: want host:port or http://host:port", backend)
	}
	dir := t.TempDir()
	vcl := filepath.Join(dir, "veiltest.vcl")
	if err := os.WriteFile(vcl, fmt.Appendf(nil, varnishVCL, host, port), 0o644); err != nil {
		t.Fatal(err)
	}
	var last string
	for attempt := range 3 { // another process may take the free port before varnishd binds it
		addr := freeAddr(t)
		base, out, err := runVarnish(t, bin, filepath.Join(dir, fmt.Sprintf("work%d", attempt)), vcl, addr)
		if err == nil {
			return base
		}
		last = fmt.Sprintf("%v\n%s", err, out)
		if !strings.Contains(out, "Address already in use") {
			break
		}
	}
	t.Fatalf("veiltest: varnishd: %s", last)
	return ""
}

// runVarnish starts varnishd and waits until it answers at addr. On failure the process is gone
// and its output is returned.
func runVarnish(t testing.TB, bin, workDir, vcl, addr string) (base, output string, err error) {
	out := &LockedBuffer{}
	// -j none: no jail, so every process runs as the test's user, who owns workDir. Started as
	// root, varnishd would otherwise use the unix jail and hand its work to the users varnish and
	// vcache, which cannot reach a private temp dir.
	cmd := exec.Command(bin,
		"-F", // foreground: the process group is ours to stop
		"-j", "none",
		"-n", workDir, // a private instance
		"-a", addr,
		"-f", vcl,
		"-s", "malloc,32m",
		"-T", "none", // no management port
		"-l", "4m", // shared memory log (default 80 MB)
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}

	base = "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, "PURGE", base+varnishReadyPath, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("PURGE answered %s", resp.Status)
		}
		select {
		case <-done:
			return "", out.String(), fmt.Errorf("exited: %v", waitErr)
		case <-ctx.Done():
			stop()
			return "", out.String(), fmt.Errorf("not answering at %s within 30s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("varnishd at %s:\n%s", addr, out.String())
		}
	})
	return base, "", nil
}

// varnishd returns the path of varnishd, or "" without one. Debian installs it in /usr/sbin, which
// is not on every PATH.
func varnishd() string {
	if p, err := exec.LookPath("varnishd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/varnishd", "/usr/local/sbin/varnishd"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// freeAddr returns a loopback address whose port was free at the moment of asking.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
