package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/storage"
)

// App is one running Veil: its database, bucket, services, background workers and HTTP handler,
// built from one validated Config. `veil serve` and veiltest both make theirs with New, so tests
// run what production runs.
type App struct {
	cfg Config
	log *slog.Logger

	DB    *models.DB
	Store *storage.Store
	Auth  *auth.Service
	Media *media.Service
	Bus   *events.Bus
	// Events is the outbox every change records its events in; Webhooks sends them on.
	Events   *events.Outbox
	Webhooks *events.Webhooks
	// FirstAdminToken is the API token of the admin New created because no user existed, shown
	// once; "" when users existed or Config.Auth.BootstrapToken chose the token.
	FirstAdminToken string

	server *server.Server
	ownDB  bool // New opened DB, so Shutdown closes it

	noRetryLoop bool

	// reconciled is closed when Start's first reconciliation pass has ended.
	reconciled     chan struct{}
	reconciledOnce sync.Once

	mu      sync.Mutex
	started bool
	stop    context.CancelFunc
	workers sync.WaitGroup
	closed  bool
}

// StageError says which part of the start failed (storage, database, …): the cause is meant
// for a person and is shown as is.
type StageError struct {
	Stage string // "storage", "database", "migrations", "admin", "events", "file permissions", "cdn purge"
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Options are what New needs beyond the configuration. Nil fields take defaults.
type Options struct {
	// Logger receives every log line (nil: discarded).
	Logger *slog.Logger
	// ACL replaces the file-permission driver Config.StorageACL would pick (tests inject faults
	// with it).
	ACL media.PermissionSetter
	// ProxyReason is the reason /readyz reports for proxy-only when neither ACL nor
	// Config.StorageACL gives a driver (tests simulate a bucket without per-object permissions).
	ProxyReason string
	// Purger replaces the CDN purger Config.CDNPurge would open; PurgeBaseURL, when set, replaces
	// Config.Server.PublicURL as the base its serve-view URLs are purged under.
	Purger       purge.Purger
	PurgeBaseURL string
	// NoRetryLoop leaves out the background permission retry loop: for tests whose hooks
	// schedule the permission syncs of requests and must not meet a retry's sync at the same
	// points. Production always runs it.
	NoRetryLoop bool
	// DB, when set, is an open database used instead of opening Config.DB; New migrates it but
	// never closes it (its opener does).
	DB *models.DB
	// WrapStore, when set, replaces the opened and probed bucket by the one it returns (tests
	// inject storage faults with it); closing the replacement must close the original.
	WrapStore func(*storage.Store) *storage.Store
}

// New opens the bucket (probing it), opens and migrates the database, creates the first admin
// when none exists, and assembles the services and the handler. Nothing runs in the background
// until Start. On error everything opened so far is closed again.
func New(ctx context.Context, cfg Config, opts *Options) (*App, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := cfg.Validate(); err != nil {
		if opts.DB == nil {
			return nil, err
		}
		var rest []error // Config.DB is not used
		for _, e := range config.Fields(err) {
			if fe, ok := e.(*config.FieldError); !ok || !strings.HasPrefix(fe.Field, "DB.") {
				rest = append(rest, e)
			}
		}
		if err := errors.Join(rest...); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: log, noRetryLoop: opts.NoRetryLoop, reconciled: make(chan struct{})}
	if err := a.open(ctx, opts); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// open builds what New promises; New closes what it opened when it fails.
func (a *App) open(ctx context.Context, opts *Options) (err error) {
	cfg, log := a.cfg, a.log
	if a.Store, err = storage.Open(ctx, cfg.Storage); err != nil {
		return &StageError{"storage", err}
	}
	if err := a.Store.Probe(ctx); err != nil {
		return &StageError{"storage", err}
	}
	if opts.WrapStore != nil {
		a.Store = opts.WrapStore(a.Store)
	}
	if a.DB, a.ownDB = opts.DB, opts.DB == nil; a.ownDB {
		if a.DB, err = models.Open(ctx, cfg.DB); err != nil {
			return &StageError{"database", err}
		}
	}
	applied, err := models.Migrate(ctx, a.DB.DB)
	if err != nil {
		return &StageError{"migrations", err}
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "migrations", applied)
	}

	acfg := cfg.Auth
	mcfg := cfg.Media
	if cfg.Secret != "" {
		acfg.PreviewKeys = derivedKeys(cfg.Secret, cfg.OldSecrets, "preview")
		mcfg.Renditions.SigningKeys = derivedKeys(cfg.Secret, cfg.OldSecrets, "rendition url signing")
	}
	if a.Bus, err = events.OpenBus(ctx, cfg.EventsURL, log); err != nil {
		return &StageError{"events", err}
	}
	a.Events = events.NewOutbox(a.DB, a.Bus, cfg.Events, log)
	a.Webhooks = events.NewWebhooks(a.Events, cfg.Webhooks, log)
	a.Auth = auth.New(a.DB, acfg, log)
	a.Auth.UseEvents(a.Events)
	if a.FirstAdminToken, err = a.Auth.Bootstrap(ctx); err != nil {
		return &StageError{"admin", err}
	}

	deps := media.Deps{DB: a.DB, Store: a.Store, Logger: log, Events: a.Events, Webhooks: a.Webhooks, PublicURL: cfg.Server.PublicURL}
	if opts.ACL != nil {
		deps.ACL = opts.ACL
	} else {
		acl, reason, err := PickACL(ctx, a.Store, cfg.StorageACL, log)
		if err != nil {
			return &StageError{"file permissions", err}
		}
		deps.ProxyReason = reason
		if acl != nil {
			deps.ACL = acl
		}
	}
	if deps.ACL == nil && opts.ProxyReason != "" {
		deps.ProxyReason = opts.ProxyReason
	}
	if deps.ACL == nil {
		log.Warn("file permissions: proxy-only (every byte is served through Veil)", "reason", deps.ProxyReason)
	} else {
		log.Info("file permissions", "driver", deps.ACL.Name())
	}
	deps.Purger = opts.Purger
	if opts.PurgeBaseURL != "" {
		deps.PublicURL = opts.PurgeBaseURL
	}
	if deps.Purger == nil && cfg.CDNPurge != "" {
		p, err := purge.Open(cfg.CDNPurge, cfg.CDNPurgeAuth, purge.Options{Redact: media.RedactURL}, log)
		if err != nil {
			return &StageError{"cdn purge", err}
		}
		deps.Purger = p
	}
	if deps.Purger != nil {
		log.Info("cdn purge", "purger", deps.Purger.Name())
	}
	a.Media = media.New(mcfg, deps)
	a.server = server.New(cfg.Server, server.Deps{DB: a.DB, Media: a.Media, Auth: a.Auth, Logger: log})
	return nil
}

// Handler is Veil's public HTTP handler (GraphQL, serve views, GraphiQL, health).
func (a *App) Handler() http.Handler { return a.server }

// MetricsHandler serves /metrics; it belongs on a private listener, never the public one.
func (a *App) MetricsHandler() http.Handler { return a.server.MetricsHandler() }

// CloseStreams ends every subscription stream (SSE, websockets). Register it with
// http.Server.RegisterOnShutdown: Shutdown waits for active requests, and a stream stays active
// for as long as its client listens.
func (a *App) CloseStreams() { a.server.CloseStreams() }

// Reconciled is closed once the reconciliation pass Start begins with has ended (whatever its
// outcome), or at Shutdown if it never ran: tests wait for it so that the pass cannot overlap
// what they do next.
func (a *App) Reconciled() <-chan struct{} { return a.reconciled }

func (a *App) markReconciled() { a.reconciledOnce.Do(func() { close(a.reconciled) }) }

// Start runs the background workers (event bus, eager renditions, permission retries,
// reconciliation of the bucket with the database) until
// Shutdown. It returns at once; calling it twice does nothing.
func (a *App) Start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.closed {
		return
	}
	a.started = true
	bg, stop := context.WithCancel(auth.WithViewer(context.WithoutCancel(ctx), auth.System))
	a.stop = stop
	a.workers.Add(7)
	go func() {
		defer a.workers.Done()
		a.Media.RunReconcileLoop(bg, a.cfg.ReconcileInterval, a.cfg.Reconcile, a.markReconciled)
	}()
	go func() { defer a.workers.Done(); a.Bus.Run(bg) }()
	go func() { defer a.workers.Done(); a.Events.Run(bg) }()
	go func() { defer a.workers.Done(); a.Events.RunPruner(bg) }()
	go func() { defer a.workers.Done(); a.Webhooks.Run(bg) }()
	go func() { defer a.workers.Done(); a.Media.RunEager(bg, a.cfg.EagerWorkers) }()
	if !a.noRetryLoop {
		go func() {
			defer a.workers.Done()
			a.Media.RunRetryLoop(bg, a.cfg.PermissionRetryInterval, a.cfg.PermissionRetryBatch)
		}()
	} else {
		a.workers.Done()
	}
}

// Shutdown ends the subscription streams, stops the background workers (waiting for them until
// ctx ends), and closes the bus, the database and the bucket. The HTTP server that serves
// Handler must have been shut down first.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	stop := a.stop
	a.mu.Unlock()
	defer a.markReconciled()
	a.server.CloseStreams()
	if stop != nil {
		stop()
		done := make(chan struct{})
		go func() { a.workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("app: background workers still running: %w", ctx.Err())
		}
	}
	return a.close()
}

// close releases what New opened, in reverse order.
func (a *App) close() error {
	var errs []error
	if a.Bus != nil {
		a.Bus.Close(context.Background())
	}
	if a.DB != nil && a.ownDB {
		errs = append(errs, a.DB.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}

// PickACL detects the file-permission strategy of the bucket: a driver, or nil and the reason
// for proxy-only. A strategy configured explicitly that the bucket refuses is an error.
func PickACL(ctx context.Context, store *storage.Store, strategy string, log *slog.Logger) (storage.ACL, string, error) {
	if strategy == "none" {
		return nil, "VEIL_STORAGE_ACL=none", nil
	}
	acl, err := storage.ACLFor(ctx, store, strategy, log)
	if err != nil {
		if strategy == "auto" {
			return nil, err.Error(), nil
		}
		return nil, "", fmt.Errorf("VEIL_STORAGE_ACL: %w", err)
	}
	return acl, "", nil
}

// derivedKeys derives the keys for one purpose from the secret (first: signs) and the old
// secrets (verify only), so a secret itself is never used for two purposes.
func derivedKeys(secret string, old []string, purpose string) [][]byte {
	keys := [][]byte{DerivedKey(secret, purpose)}
	for _, o := range old {
		keys = append(keys, DerivedKey(o, purpose))
	}
	return keys
}

// DerivedKey derives a key for one purpose ("rendition url signing", "preview") from a secret.
func DerivedKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("veil " + purpose + " key v1"))
	return m.Sum(nil)
}
