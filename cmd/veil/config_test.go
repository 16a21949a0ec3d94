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

// TestQueryLimitsConfig: the GraphQL document and response limits have their defaults, are read
// from VEIL_* variables and flags, and a bad value names its setting.
func TestQueryLimitsConfig(t *testing.T) {
	load := func(args ...string) (*Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return loadConfig(fs, append([]string{"--data-dir", t.TempDir()}, args...))
	}
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	q := c.Server.Query
	if q.MaxTokens != 10000 || q.MaxDepth != 20 || q.MaxFields != 2000 || q.MaxAliases != 100 ||
		q.MaxFragments != 50 || q.MaxOperations != 20 || c.Server.MaxResponseBytes != 4<<20 {
		t.Errorf("defaults: %+v, response %d", q, c.Server.MaxResponseBytes)
	}
	t.Setenv("VEIL_MAX_ALIASES", "50")
	t.Setenv("VEIL_MAX_RESPONSE_BYTES", "1MiB")
	if c, err = load("--max-query-depth", "12"); err != nil {
		t.Fatal(err)
	}
	if c.Server.Query.MaxAliases != 50 || c.Server.Query.MaxDepth != 12 || c.Server.MaxResponseBytes != 1<<20 {
		t.Errorf("settings not applied: %+v, response %d", c.Server.Query, c.Server.MaxResponseBytes)
	}
	for _, bad := range []struct{ env, val string }{
		{"VEIL_MAX_ALIASES", "0"}, {"VEIL_MAX_QUERY_TOKENS", "ten"}, {"VEIL_MAX_QUERY_DEPTH", "1"},
		{"VEIL_MAX_QUERY_FIELDS", "-1"}, {"VEIL_MAX_QUERY_FRAGMENTS", "100000"}, {"VEIL_MAX_QUERY_OPERATIONS", "0"},
		{"VEIL_MAX_RESPONSE_BYTES", "12"},
	} {
		t.Run(bad.env, func(t *testing.T) {
			t.Setenv(bad.env, bad.val)
			if _, err := load(); err == nil || !strings.Contains(err.Error(), bad.env) {
				t.Errorf("%s=%s: %v, want an error naming it", bad.env, bad.val, err)
			}
		})
	}
}
