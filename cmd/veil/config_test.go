package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestCDNPurgeConfig: VEIL_CDN_PURGE is validated at start, naming the setting, and needs
// VEIL_PUBLIC_URL for anything but log.
func TestCDNPurgeConfig(t *testing.T) {
	load := func(args ...string) error {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		_, err := loadConfig(fs, append([]string{"--data-dir", t.TempDir()}, args...))
		return err
	}
	for _, ok := range [][]string{
		{"--cdn-purge", "log"},
		{"--cdn-purge", "purge:http://127.0.0.1:6081", "--public-url", "https://media.example"},
		{"--cdn-purge", "webhook:https://hooks.example/purge", "--cdn-purge-auth", "Bearer x", "--public-url", "https://media.example"},
	} {
		if err := load(ok...); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cdn-purge", "purge:ftp://x", "--public-url", "https://m.example"}, "http:// or https://"},
		{[]string{"--cdn-purge", "varnish", "--public-url", "https://m.example"}, "use log, purge"},
		{[]string{"--cdn-purge", "purge:http://127.0.0.1:6081"}, "needs VEIL_PUBLIC_URL"},
	} {
		err := load(c.args...)
		if err == nil || !strings.Contains(err.Error(), "--cdn-purge") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming --cdn-purge and %q", c.args, err, c.want)
		}
	}
}
