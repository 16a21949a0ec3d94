// Command veil runs Veil, the headless media backend.
//
//	veil serve              run the server (creates ./data with SQLite and a media folder by default)
//	veil migrate            apply database migrations and exit
//	veil doctor             check configuration, storage and database, print a diagnosis, and exit
//	veil token create       make an admin (if needed) and print a new API token
//	veil retry-permissions  set the file permissions of every outdated item now
//	veil reconcile          remove objects no row references, report rows whose object is missing
//	veil render             make one rendition of a local file, as the server would
//	veil version            print the module version, commit and Go version
//
// Every flag has a VEIL_* environment variable; `veil <command> -h` lists them.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/veil-media/veil/app"
	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

const usage = `usage: veil <command> [flags]

commands:
  serve     run the server
  migrate   apply database migrations and exit
  doctor    check configuration, storage and database, then exit
  render    make one rendition of a local file: veil render -spec SPEC IN OUT
  token     veil token create --admin: make an admin (if needed) and print a new API token
  retry-permissions [--dry-run]   set the file permissions of every outdated item now
  reconcile [--dry-run]   remove objects no row references and report rows whose object is missing
  version   print the version, commit and Go version

Run 'veil <command> -h' for the flags and their VEIL_* environment variables.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "render":
		return render(rest, stdout, stderr)
	case "version", "--version":
		version(stdout)
		return 0
	case "token":
		const tokenUsage = "usage: veil token create --admin [--email admin@localhost] [--token-name cli] [config flags]"
		if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help") {
			fmt.Fprintln(stdout, tokenUsage)
			return 0
		}
		if len(rest) == 0 || rest[0] != "create" {
			fmt.Fprintln(stderr, tokenUsage)
			return 2
		}
		cmd, rest = "token create", rest[1:]
	}
	fs := flag.NewFlagSet("veil "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fn func(context.Context, *Config, io.Writer, io.Writer) int
	switch cmd {
	case "serve":
		fn = serve
	case "migrate":
		fn = migrate
	case "doctor":
		fn = doctor
	case "token create":
		fn = tokenCreate
	case "retry-permissions":
		fn = retryPermissions
	case "reconcile":
		fn = reconcile
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "veil: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var init bool
	if cmd == "serve" || cmd == "migrate" {
		fs.BoolVar(&init, "init", false, "create the data dir even outside the current folder (a new, empty instance)")
	}
	cfg, err := loadConfig(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "veil: invalid configuration:\n%v\n", indent(err.Error()))
		return 2
	}
	if cmd == "serve" {
		// Bind before anything is created, so a port in use leaves no admin behind whose
		// one-time token nobody saw.
		if cfg.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
			fmt.Fprintf(stderr, "veil: VEIL_LISTEN: cannot listen on %s: %v\n", cfg.Listen, err)
			return 1
		}
		defer cfg.listener.Close()
	}
	if cfg.Ephemeral && cmd != "serve" {
		fmt.Fprintf(stderr, "veil: VEIL_EPHEMERAL: only veil serve runs an ephemeral instance (%s would work on an empty one and throw it away)\n", cmd)
		return 2
	}
	if !cfg.Ephemeral { // an ephemeral instance has no data dir
		in := describeInstance(cfg, cmd == "serve")
		if err := in.prepare(cmd, cfg, init, stderr); err != nil {
			fmt.Fprintf(stderr, "veil: %v\n", err)
			return 1
		}
		if diag := in.diagnose(); diag != "" {
			fmt.Fprintf(stderr, "veil: %s\n", diag)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return fn(ctx, cfg, stdout, stderr)
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStorage opens and probes the bucket; a failure is a diagnosis meant for a person.
func openStorage(ctx context.Context, cfg *Config) (*storage.Store, error) {
	store, err := storage.Open(ctx, cfg.Storage)
	if err != nil {
		return nil, err
	}
	if err := store.Probe(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
	setDefaultGC(cfg.Media.Renditions.MaxMemoryBytes)
	log := newLogger(cfg, stderr)
	if cfg.Ephemeral {
		// Nothing on disk: the secret lives and dies with the process, like the data.
		var b [32]byte
		_, _ = rand.Read(b[:])
		cfg.Secret = hex.EncodeToString(b[:])
		fmt.Fprintf(stdout, "Ephemeral instance: in-memory database and bucket (%s); everything is gone at exit.\n", cfg.Storage.URL)
	} else {
		secret, created, err := loadSecret(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "veil: %v\n", err)
			return 1
		} else if created {
			log.Warn("generated a signing secret; set VEIL_SECRET to share one between instances", "path", cfg.DataDir+"/secret")
		}
		if warning := secretMismatch(cfg); warning != "" {
			fmt.Fprintf(stderr, "veil: WARNING: %s\n", warning)
			log.Warn("VEIL_SECRET differs from the generated secret of this data dir", "path", filepath.Join(cfg.DataDir, "secret"))
		}
		cfg.Secret = secret
	}
	acl, err := faultyMemACL(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 2
	}
	a, err := app.New(ctx, cfg.Config, &app.Options{Logger: log, ACL: acl})
	if err != nil {
		var stage *app.StageError
		switch {
		case errors.As(err, &stage) && stage.Stage == "storage":
			fmt.Fprintf(stderr, "veil: storage check failed, not starting.\n%v\n", indent(stage.Err.Error()))
		case errors.As(err, &stage) && stage.Stage == "database":
			fmt.Fprintf(stderr, "veil: database check failed, not starting.\n  %v\n", stage.Err)
		default:
			fmt.Fprintf(stderr, "veil: %v\n", err)
		}
		return 1
	}
	if tok := a.FirstAdminToken; tok != "" {
		fmt.Fprintf(stdout, "\nNo user existed, so Veil created an admin (admin@localhost).\nIts API token is shown this once; keep it safe:\n\n    %s\n\nUse it as: Authorization: Bearer <token>\n\n", tok)
	}
	if point := os.Getenv("VEIL_TEST_CRASH_AT"); point != "" {
		// Fault tests only: die as kill -9 would, at a chosen step.
		log.Warn("VEIL_TEST_CRASH_AT is set: this process kills itself at that step", "point", point)
		a.Media.CrashAt(point, func() {
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Kill() // SIGKILL on Unix
			}
		})
	}
	a.Start(ctx)
	ln := cfg.listener
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No read/write timeout: uploads and downloads of large files take as long as they take;
		// slow-loris is bounded by ReadHeaderTimeout.
	}
	srv.RegisterOnShutdown(a.CloseStreams)
	stopMetrics, err := serveMetrics(cfg.MetricsListen, a.MetricsHandler(), log, stdout)
	if err != nil {
		ln.Close()
		a.Shutdown(context.Background())
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	defer stopMetrics()

	log.Info("veil listening", "url", "http://"+ln.Addr().String(), "database", models.RedactURL(cfg.DB.URL), "storage", a.Store.Scheme, "storage_dir", a.Store.Dir)
	fmt.Fprintf(stdout, "Veil is running at http://%s (GraphiQL at /, media library at /library/, API at /graphql)\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("server stopped", "err", err)
		a.Shutdown(context.Background())
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	code := 0
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		code = 1
	}
	if err := a.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		code = 1
	}
	if code == 0 {
		log.Info("stopped")
	}
	return code
}

// serveMetrics serves /metrics on its own listener at addr ("" serves none) until stop is called.
func serveMetrics(addr string, h http.Handler, log *slog.Logger, stdout io.Writer) (stop func(), err error) {
	if addr == "" {
		log.Info("metrics: not served (VEIL_METRICS_LISTEN is empty)")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("VEIL_METRICS_LISTEN: cannot listen on %s: %w (choose another address, or set it empty to serve no metrics)", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	fmt.Fprintf(stdout, "Metrics at http://%s/metrics\n", ln.Addr())
	return func() { srv.Close() }, nil
}

func migrate(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
	db, err := models.Open(ctx, cfg.DB)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	defer db.Close()
	applied, err := models.Migrate(ctx, db.DB)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	return 0
}

// doctor prints the same checks serve runs at start, without starting anything.
func doctor(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
	ok := true
	fmt.Fprintf(stdout, "veil doctor (uid=%d gid=%d)\n", os.Getuid(), os.Getgid())
	fmt.Fprintf(stdout, "storage  %s\n", cfg.Storage.URL)
	if store, err := openStorage(ctx, cfg); err != nil {
		ok = false
		fmt.Fprintf(stdout, "  FAIL\n%s\n", indent(indent(err.Error())))
	} else {
		fmt.Fprintln(stdout, "  ok: write, read and delete of a probe object succeeded")
		fmt.Fprintf(stdout, "file permissions (VEIL_STORAGE_ACL=%s)\n", cfg.StorageACL)
		acl, reason, err := app.PickACL(ctx, store, cfg.StorageACL, slog.New(slog.DiscardHandler))
		switch {
		case err != nil:
			ok = false
			fmt.Fprintf(stdout, "  FAIL: %v\n", err)
		case acl == nil:
			fmt.Fprintf(stdout, "  ok: proxy-only: public items are served through Veil with public cache headers\n  reason: %s\n", reason)
		default:
			fmt.Fprintf(stdout, "  ok: %s\n", acl.Name())
		}
		store.Close()
	}
	fmt.Fprintf(stdout, "database %s\n", models.RedactURL(cfg.DB.URL))
	if db, err := models.Open(ctx, cfg.DB); err != nil {
		ok = false
		fmt.Fprintf(stdout, "  FAIL: %v\n", err)
	} else {
		pending, err := models.Pending(ctx, db.DB)
		switch {
		case err != nil:
			ok = false
			fmt.Fprintf(stdout, "  FAIL: %v\n", err)
		case len(pending) > 0:
			fmt.Fprintf(stdout, "  ok: connected; %d migration(s) pending (veil serve or veil migrate applies them)\n", len(pending))
		default:
			fmt.Fprintln(stdout, "  ok: connected; schema up to date")
			if !doctorReconcile(ctx, cfg, db, stdout) {
				ok = false
			}
		}
		db.Close()
	}
	if !ok {
		fmt.Fprintln(stdout, "problems found")
		return 1
	}
	fmt.Fprintln(stdout, "all checks passed")
	return 0
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}

// tokenCreate makes an admin user (unless one with that email exists) and prints a new API token
// for it: the way back in when the bootstrap token is lost.
func tokenCreate(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
	if !cfg.TokenAdmin {
		fmt.Fprintln(stderr, "veil token create: only --admin tokens are made here; make others with the createToken mutation")
		return 2
	}
	db, err := models.Open(ctx, cfg.DB)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	defer db.Close()
	if _, err := models.Migrate(ctx, db.DB); err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	tok, err := auth.New(db, cfg.Auth, nil).CreateAdmin(ctx, "Admin", cfg.TokenEmail, cfg.TokenName)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	// The token alone stays on stdout for scripts; people get a link that signs the library in.
	fmt.Fprintf(stderr, "Media library, signed in with this token: %s\n", libraryLink(cfg, tok))
	return 0
}

// libraryLink is the URL of the media library page with the token in its fragment, which never
// reaches a server or its logs; the page moves it to sessionStorage and off the address bar.
func libraryLink(cfg *Config, tok string) string {
	base := strings.TrimRight(cfg.Server.PublicURL, "/")
	if base == "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			host, port = "", "8080"
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	return base + "/library/#token=" + url.QueryEscape(tok)
}

// faultyMemACL is the mem file-permission driver with faults read from the file named by
// VEIL_TEST_MEM_ACL_FAULTS, for tests that watch a permission fail and then succeed on retry
// (test/js/library.mjs); nil when the variable is unset. It is read from the environment only,
// never a flag or in the help, and needs VEIL_STORAGE_ACL=mem.
func faultyMemACL(cfg *Config) (media.PermissionSetter, error) {
	path := os.Getenv("VEIL_TEST_MEM_ACL_FAULTS")
	if path == "" {
		return nil, nil
	}
	if cfg.StorageACL != "mem" {
		return nil, errors.New("VEIL_TEST_MEM_ACL_FAULTS: needs VEIL_STORAGE_ACL=mem (it injects faults into the mem driver only)")
	}
	return storage.NewMemACL(storage.MemACLOptions{Fail: faultsFromFile(path)}), nil
}

// faultsFromFile fails the permission calls of keys containing a line of the file at path, read
// on every call, so a test switches faults on and off while the server runs.
func faultsFromFile(path string) func(key string, public bool) error {
	return func(key string, public bool) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // no file: no fault
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && strings.Contains(key, line) {
				return fmt.Errorf("injected fault %q (%s): %w", line, path, storage.ErrUnavailable)
			}
		}
		return nil
	}
}

// offline is what a command that works on the data without serving holds: the bucket, the
// database (its schema up to date) and a logger.
type offline struct {
	store *storage.Store
	db    *models.DB
	log   *slog.Logger
}

// openOffline opens the bucket (and probes it when probe is set) and the database, and checks
// that no migration is pending; a failure closes what it opened.
func openOffline(ctx context.Context, cfg *Config, stderr io.Writer, probe bool) (*offline, error) {
	var store *storage.Store
	var err error
	if probe {
		store, err = openStorage(ctx, cfg)
	} else {
		store, err = storage.Open(ctx, cfg.Storage)
	}
	if err != nil {
		return nil, err
	}
	db, err := models.Open(ctx, cfg.DB)
	if err != nil {
		store.Close()
		return nil, err
	}
	if pending, err := models.Pending(ctx, db.DB); err != nil || len(pending) > 0 {
		db.Close()
		store.Close()
		if err == nil {
			err = fmt.Errorf("%d migration(s) pending", len(pending))
		}
		return nil, fmt.Errorf("the database schema is not up to date (run veil migrate): %w", err)
	}
	return &offline{store: store, db: db, log: newLogger(cfg, stderr)}, nil
}

func (o *offline) Close() {
	o.db.Close()
	o.store.Close()
}

// retryPermissions sets the file permissions of every outdated item now (or lists them with
// --dry-run).
func retryPermissions(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
	o, err := openOffline(ctx, cfg, stderr, true)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	defer o.Close()
	acl, reason, err := app.PickACL(ctx, o.store, cfg.StorageACL, o.log)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	deps := media.Deps{DB: o.db, Store: o.store, Logger: o.log, ProxyReason: reason}
	if acl != nil {
		deps.ACL = acl
	}
	svc := media.New(cfg.Media, deps)
	ctx = auth.WithViewer(ctx, auth.System)
	if cfg.DryRun {
		ids, err := svc.Outdated(ctx, 1_000_000)
		if err != nil {
			fmt.Fprintf(stderr, "veil: %v\n", err)
			return 1
		}
		for _, id := range ids {
			fmt.Fprintln(stdout, id)
		}
		rep := media.SyncReport{}
		if leased, _, err := svc.RetryOutdated(ctx, 10_000, true); err == nil {
			rep = leased
		}
		for _, l := range rep.Leased {
			fmt.Fprintf(stdout, "contended %s held by %s until %s\n", l.MediaID, l.Holder, l.Expires.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(stdout, "%d item(s) with outdated file permissions (dry run: nothing changed)\n", len(ids))
		return 0
	}
	total, err := svc.RetryAll(ctx, cfg.PermissionRetryBatch)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	for _, l := range total.Leased {
		fmt.Fprintf(stdout, "contended %s held by %s until %s\n", l.MediaID, l.Holder, l.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "%d item(s), %d file(s) set, %d item(s) still failing, %d item(s) contended (held by a sync's lease; retried once it expires)\n", total.Items, total.Files, total.Failed, total.Contended)
	if total.Failed > 0 {
		return 1
	}
	return 0
}

// doctorReconcile prints what reconciliation would do now (a dry run): debris in the bucket and
// rows whose object is missing. Missing objects are a problem; debris is not (serve removes it).
func doctorReconcile(ctx context.Context, cfg *Config, db *models.DB, stdout io.Writer) bool {
	fmt.Fprintf(stdout, "consistency (VEIL_RECONCILE_GRACE=%v)\n", cfg.Reconcile.Grace)
	store, err := storage.Open(ctx, cfg.Storage)
	if err != nil {
		fmt.Fprintf(stdout, "  FAIL: %v\n", err)
		return false
	}
	defer store.Close()
	svc := media.New(cfg.Media, media.Deps{DB: db, Store: store})
	rep, err := svc.Reconcile(ctx, media.ReconcileOptions{Grace: cfg.Reconcile.Grace, DryRun: true})
	if err != nil {
		fmt.Fprintf(stdout, "  FAIL: %v\n", err)
		return false
	}
	fmt.Fprintf(stdout, "  %d object(s) scanned; %d orphan(s) (%d bytes, %d probe leftover(s)), %d dead upload record(s), %d rendition row(s) without object, %d row(s) whose object is missing\n",
		rep.Scanned, len(rep.Orphans), rep.OrphanBytes, rep.Probes, rep.StalePending, rep.RenditionRowsRemoved, len(rep.Missing))
	for _, m := range rep.Missing {
		fmt.Fprintf(stdout, "  MISSING %s %s %s\n", m.Table, m.ID, m.Key)
	}
	if len(rep.Orphans) > 0 || rep.StalePending > 0 || rep.RenditionRowsRemoved > 0 {
		fmt.Fprintln(stdout, "  veil reconcile (or veil serve, at start and every VEIL_RECONCILE_INTERVAL) removes the debris")
	}
	return len(rep.Missing) == 0
}

// reconcile removes what crashes left in the bucket and reports rows whose object is missing (see
// media.Service.Reconcile); --dry-run only reports. It exits 1 when objects are missing.
func reconcile(ctx context.Context, cfg *Config, stdout, stderr io.Writer) int {
	// No probe: it would write the very kind of object a dry run counts.
	o, err := openOffline(ctx, cfg, stderr, false)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	defer o.Close()
	svc := media.New(cfg.Media, media.Deps{DB: o.db, Store: o.store, Logger: o.log})
	opts := cfg.Reconcile
	opts.DryRun = cfg.DryRun
	rep, err := svc.Reconcile(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "veil: %v\n", err)
		return 1
	}
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	for _, k := range rep.Orphans {
		fmt.Fprintf(stdout, "orphan %s\n", k)
	}
	for _, m := range rep.Missing {
		fmt.Fprintf(stdout, "missing %s %s %s\n", m.Table, m.ID, m.Key)
	}
	fmt.Fprintf(stdout, "%d object(s) scanned; %s %d orphan(s) (%d bytes, %d probe leftover(s)), %d dead upload record(s), %d rendition row(s) without object; %d row(s) whose object is missing; %d young or in flight, %d outside Veil's prefixes\n",
		rep.Scanned, verb, len(rep.Orphans), rep.OrphanBytes, rep.Probes, rep.StalePending, rep.RenditionRowsRemoved, len(rep.Missing), rep.InFlight, rep.Foreign)
	if len(rep.Missing) > 0 {
		return 1
	}
	return 0
}
