package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/veil-media/veil/app"
)

// Config is the configuration of one command: Veil's own (app.Config, from the settings table)
// and the command's flags.
type Config struct {
	app.Config

	TokenAdmin bool   // veil token create --admin
	TokenEmail string // veil token create --email
	TokenName  string // veil token create --token-name
	DryRun     bool   // veil retry-permissions --dry-run, veil reconcile --dry-run

	listener net.Listener // veil serve binds before creating anything
}

// loadConfig reads the command's flags and every setting (flags win over VEIL_* variables,
// which win over defaults) and validates them, naming the offending flag or variable.
func loadConfig(fs *flag.FlagSet, args []string) (*Config, error) {
	c := &Config{}
	if fs.Name() == "veil retry-permissions" {
		fs.BoolVar(&c.DryRun, "dry-run", false, "list outdated items, change nothing")
	}
	if fs.Name() == "veil reconcile" {
		fs.BoolVar(&c.DryRun, "dry-run", false, "report what reconciliation would remove, change nothing")
	}
	if fs.Name() == "veil token create" {
		fs.BoolVar(&c.TokenAdmin, "admin", false, "make an admin token")
		fs.StringVar(&c.TokenEmail, "email", "admin@localhost", "email of the admin user (created if missing)")
		fs.StringVar(&c.TokenName, "token-name", "cli", "name of the new token")
	}
	var err error
	c.Config, err = app.Register(fs).Load(args)
	return c, err
}

// secretMismatch warns when VEIL_SECRET is set on a data dir whose generated secret differs and
// is not kept as an old secret: every rendition URL and preview token made before stops verifying.
func secretMismatch(c *Config) string {
	if c.Secret == "" {
		return ""
	}
	path := filepath.Join(c.DataDir, "secret")
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	generated := strings.TrimSpace(string(b))
	if generated == "" || generated == c.Secret {
		return ""
	}
	for _, old := range c.OldSecrets {
		if old == generated {
			return ""
		}
	}
	return fmt.Sprintf("VEIL_SECRET differs from the secret generated earlier in %s: rendition URLs and preview tokens made with it no longer verify. "+
		"To keep them valid, add it as an old secret: VEIL_RENDITION_OLD_SECRETS=\"$(cat %s)\" (or --rendition-old-secrets)", path, path)
}

// loadSecret returns the configured secret, or the one kept in <data-dir>/secret, creating it
// (random, mode 0600) on first start.
func loadSecret(c *Config) (string, bool, error) {
	if c.Secret != "" {
		return c.Secret, false, nil
	}
	path := filepath.Join(c.DataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return "", false, fmt.Errorf("VEIL_SECRET: %s holds %d characters; need at least 32", path, len(s))
		}
		return s, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("VEIL_SECRET: read %s: %w", path, err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, err
	}
	s := hex.EncodeToString(b[:])
	if err := os.MkdirAll(c.DataDir, c.DataDirMode); err != nil {
		return "", false, fmt.Errorf("VEIL_SECRET: create %s: %w", c.DataDir, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("VEIL_SECRET: create %s: %w", path, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("VEIL_SECRET: write %s: %w", path, err)
	}
	return s, true, f.Close()
}
