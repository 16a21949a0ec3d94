package veiltest

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// varnishVCL caches like Varnish's defaults (it honours Cache-Control, caches 200 and 302, and does
// not cache requests with Authorization), accepts PURGE from loopback, and marks answers with
// X-Cache: HIT or MISS for tests.
const varnishVCL = `vcl 4.1;

backend veil {
    .host = "%s";
    .port = "%s";
}

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed"));
        }
        return (purge);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
`

// StartVarnish runs a real Varnish (the Debian package's varnishd) in front of backend (an
// http://host:port URL) on a free loopback port, and returns its base URL. It stops at the end of
// the test. Without varnishd the test is skipped: .ci/run installs the package.
func StartVarnish(t testing.TB, backend string) string {
	t.Helper()
	bin, err := exec.LookPath("varnishd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/varnishd", "/usr/local/sbin/varnishd"} {
			if _, statErr := os.Stat(p); statErr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("varnishd is not installed (.ci/run installs the Debian package varnish)")
	}
	u, err := url.Parse(backend)
	if err != nil || u.Hostname() == "" || u.Port() == "" {
		t.Fatalf("veiltest: varnish backend %q must be http://host:port", backend)
	}
	dir, err := os.MkdirTemp("", "veil-varnish-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// varnishd started as root hands its work to its own unprivileged users, which must reach the
	// working folder and the VCL.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vcl := filepath.Join(dir, "veil.vcl")
	if err := os.WriteFile(vcl, fmt.Appendf(nil, varnishVCL, u.Hostname(), u.Port()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var out bytes.Buffer
	args := []string{"-F", "-n", filepath.Join(dir, "work"), "-a", addr, "-f", vcl, "-s", "malloc,32m", "-T", "none", "-p", "default_grace=0"}
	if os.Geteuid() != 0 {
		args = append(args, "-j", "none") // no privileges to drop
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("veiltest: start varnishd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("veiltest: varnishd exited: %v\n%s", err, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("veiltest: varnishd did not listen on %s within 30s\n%s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free at the moment of asking.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strings.Replace(l.Addr().String(), "[::]", "127.0.0.1", 1)
}
