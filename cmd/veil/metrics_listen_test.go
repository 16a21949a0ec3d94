package main

import (
	"flag"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAnonymousDisclosureMetricsConfig: VEIL_METRICS_LISTEN defaults to loopback, an empty value
// serves no metrics, and a value that is not host:port is refused, naming the setting.
func TestAnonymousDisclosureMetricsConfig(t *testing.T) {
	load := func(args ...string) (string, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c, err := loadConfig(fs, append([]string{"--data-dir", t.TempDir()}, args...))
		if err != nil {
			return "", err
		}
		return c.MetricsListen, nil
	}
	t.Setenv("VEIL_METRICS_LISTEN", "") // restored after the test
	os.Unsetenv("VEIL_METRICS_LISTEN")
	if got, err := load(); err != nil || got != "127.0.0.1:9090" {
		t.Errorf("default: %q %v, want 127.0.0.1:9090", got, err)
	}
	t.Setenv("VEIL_METRICS_LISTEN", "127.0.0.1:9999")
	if got, err := load(); err != nil || got != "127.0.0.1:9999" {
		t.Errorf("from the environment: %q %v", got, err)
	}
	if got, err := load("--metrics-listen="); err != nil || got != "" {
		t.Errorf("empty flag: %q %v", got, err)
	}
	if _, err := load("--metrics-listen", "nonsense"); err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Errorf("nonsense: %v, want an error naming --metrics-listen", err)
	}
	t.Setenv("VEIL_METRICS_LISTEN", "")
	if got, err := load(); err != nil || got != "" {
		t.Errorf("VEIL_METRICS_LISTEN empty: %q %v", got, err)
	}
}

// TestAnonymousDisclosureMetricsListener: `veil serve` serves /metrics on VEIL_METRICS_LISTEN, and
// /debug/pprof beside it; its main listener answers both with 404, with or without a token.
func TestAnonymousDisclosureMetricsListener(t *testing.T) {
	inst := startVeil(t, []string{"VEIL_DATA_DIR=" + t.TempDir()}) // exists: no --init needed
	m := regexp.MustCompile(`Metrics at (http://\S+)`).FindStringSubmatch(inst.out.String())
	if m == nil {
		t.Fatalf("no metrics address printed:\n%s", inst.out)
	}
	get := func(u, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tok := range []string{"", inst.token} {
		if s, body := get(inst.url+"/metrics", tok); s != 404 || strings.Contains(body, "veil_") {
			t.Errorf("main listener /metrics (token %v): %d %.200s, want 404", tok != "", s, body)
		}
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=2"} {
			if s, body := get(inst.url+p, tok); s != 404 || strings.Contains(body, "goroutine") {
				t.Errorf("main listener %s (token %v): %d %.200s, want 404", p, tok != "", s, body)
			}
		}
	}
	if s, body := get(m[1], ""); s != 200 || !strings.Contains(body, "veil_permission_queue_depth") {
		t.Errorf("metrics listener %s: %d %.200s", m[1], s, body)
	}
	base := strings.TrimSuffix(m[1], "/metrics")
	if s, body := get(base+"/debug/pprof/goroutine?debug=1", ""); s != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("metrics listener pprof: %d %.200s", s, body)
	}
	if s, body := get(base+"/debug/pprof/heap?debug=1", ""); s != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("metrics listener heap profile: %d %.200s", s, body)
	}
}
