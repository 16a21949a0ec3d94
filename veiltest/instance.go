package veiltest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/veil-media/veil/app"
)

// Instance is a real Veil, built by app.New exactly as `veil serve` builds it, listening on a
// loopback port: for other projects' integration tests. Start gives one to a Go test in one line:
//
//	v := veiltest.Start(t, nil)
//	// POST v.URL+"/graphql" with "Authorization: Bearer "+v.AdminToken
type Instance struct {
	// URL is the base URL (http://127.0.0.1:port); the API is URL+"/graphql".
	URL string
	// AdminToken is an admin's API token (Options.AdminToken, or a random one).
	AdminToken string
	// App is the running instance, for tests that reach below the API.
	App *app.App

	http *httptest.Server
}

// Options change what Run starts. The zero value is an in-memory SQLite database, a mem://
// bucket, proxy-only, and a random admin token.
type Options struct {
	// DatabaseURL is "sqlite:<path>" or "postgres://…" (default: in-memory SQLite).
	DatabaseURL string
	// StorageURL is any gocloud blob URL (default: mem://; use file:// + a temp folder to look at
	// the files).
	StorageURL string
	// AdminToken is the admin's API token, at least 32 printable characters (default: random).
	AdminToken string
	// Configure, when set, changes any other setting before the start (it receives the defaults).
	Configure func(*app.Config)
	// Logger receives Veil's logs (default: discarded).
	Logger *slog.Logger
}

// Run starts a Veil. Close stops it and releases everything it holds; an in-memory database and
// bucket leave nothing behind.
func Run(ctx context.Context, opts *Options) (*Instance, error) {
	if opts == nil {
		opts = &Options{}
	}
	cfg := app.Defaults()
	cfg.Ephemeral = true
	cfg.MetricsListen = ""
	cfg.StorageACL = "none"
	cfg.DB.URL, cfg.Storage.URL = opts.DatabaseURL, opts.StorageURL
	cfg.Auth.BootstrapToken = opts.AdminToken
	if cfg.Auth.BootstrapToken == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		cfg.Auth.BootstrapToken = "veiltest-" + base64.RawURLEncoding.EncodeToString(b[:])
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	cfg.Resolve()
	a, err := app.New(ctx, cfg, &app.Options{Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("veiltest: start veil: %w", err)
	}
	a.Start(ctx)
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Config.RegisterOnShutdown(a.CloseStreams)
	srv.Start()
	return &Instance{URL: srv.URL, AdminToken: cfg.Auth.BootstrapToken, App: a, http: srv}, nil
}

// Close stops the server, ending open subscription streams, and the instance.
func (i *Instance) Close() error {
	i.App.CloseStreams()
	i.http.Close()
	return i.App.Shutdown(context.Background())
}

// Start is Run for a test: it fails the test if Veil cannot start and stops it when the test ends.
func Start(t testing.TB, opts *Options) *Instance {
	t.Helper()
	i, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := i.Close(); err != nil {
			t.Errorf("veiltest: stop veil: %v", err)
		}
	})
	return i
}
