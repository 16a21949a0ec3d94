package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/storage"
)

// Config is Veil's whole configuration, composed of each package's own Config. Settings (the
// table in settings.go) fill it from flags and VEIL_* variables; Defaults gives every default.
type Config struct {
	// Listen is the address of the public listener (host:port).
	Listen string
	// MetricsListen is where /metrics is served ("" nowhere); never the public listener.
	MetricsListen string
	// DataDir holds the embedded database, media folder and generated secret by default.
	DataDir     string
	DataDirMode os.FileMode
	// Secret signs rendition URLs and preview tokens (at least 32 characters). "" means: the one
	// generated into <DataDir>/secret, which the caller of New must have read into it.
	Secret string
	// OldSecrets still verify what earlier secrets signed (key rotation).
	OldSecrets []string
	// Ephemeral runs on an in-memory database and bucket and leaves nothing on disk.
	Ephemeral bool

	LogLevel        slog.Level
	LogFormat       string // text or json
	ShutdownTimeout time.Duration

	// StorageACL picks the file-permission driver: auto, file-mode, s3-acl, s3-tags, gcs-acl,
	// mem, simulate or none.
	StorageACL              string
	PermissionRetryInterval time.Duration
	PermissionRetryBatch    int
	// EagerWorkers generate the eager renditions of new uploads in the background.
	EagerWorkers int
	// ReconcileInterval is how often the bucket is reconciled with the database after the run at
	// start (0: only at start); Reconcile.Grace is how old debris must be to be removed.
	ReconcileInterval time.Duration
	Reconcile         media.ReconcileOptions

	// EventsURL is the event bus: mem:// or nats://subject.
	EventsURL string
	// Events governs the outbox relay and retention; Webhooks the webhook deliveries.
	Events   events.Config
	Webhooks events.WebhookConfig

	CDNPurge     string // purger spec, see purge.Open
	CDNPurgeAuth string // Authorization header of the purge webhook

	Auth    auth.Config
	DB      models.DBConfig
	Storage storage.Config
	Media   media.Config
	Server  server.Config
}

// Defaults returns every default: Veil's own and each package's DefaultConfig. DB.URL and
// Storage.URL are left empty; Resolve derives them from DataDir.
func Defaults() Config {
	return Config{
		Listen: "127.0.0.1:8080", MetricsListen: "127.0.0.1:9090",
		DataDir: "./data", DataDirMode: 0o750,
		LogLevel: slog.LevelInfo, LogFormat: "text", ShutdownTimeout: 60 * time.Second,
		StorageACL: "auto", PermissionRetryInterval: 5 * time.Minute, PermissionRetryBatch: 500, EagerWorkers: 2,
		ReconcileInterval: time.Hour, Reconcile: media.ReconcileOptions{Grace: media.DefaultReconcileGrace},
		EventsURL: "mem://", Events: events.DefaultConfig(),
		DB:     models.DBConfig{StatementTimeout: models.DefaultStatementTimeout, AcquireTimeout: models.DefaultAcquireTimeout},
		Auth:   auth.DefaultConfig(),
		Media:  media.DefaultConfig(),
		Server: server.DefaultConfig(),
	}
}

// Resolve fills what follows from other settings: the database and bucket inside DataDir (or in
// memory when Ephemeral) unless set, the folder modes, the rendition source limit, and the
// largest upload request. It is idempotent; Load calls it, and so may a hand-built Config.
func (c *Config) Resolve() {
	if c.Ephemeral {
		if c.DB.URL == "" {
			c.DB.URL = models.NewMemoryURL()
		}
		if c.Storage.URL == "" {
			c.Storage.URL = "mem://"
		}
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		abs = c.DataDir
	}
	if c.DB.URL == "" {
		c.DB.URL = "sqlite:" + filepath.Join(abs, "veil.db")
	}
	if c.Storage.URL == "" {
		c.Storage.URL = "file://" + filepath.ToSlash(filepath.Join(abs, "media"))
	}
	c.DB.DirMode, c.Storage.DirMode = c.DataDirMode, c.DataDirMode
	c.Media.Renditions.Options.Limits.MaxSourcePixels = c.Media.Images.MaxSourcePixels
	if c.Server.MaxUploadRequestBytes == 0 {
		// A multipart request carries one file plus small JSON fields.
		c.Server.MaxUploadRequestBytes = max(c.Media.MaxImageBytes, c.Media.MaxDocumentBytes) + c.Server.MaxRequestBytes*2 + 64<<10
	}
}

// Validate checks Veil's own fields and every package's Config. Each problem is a
// *config.FieldError whose Field is the path below Config ("Media.MaxImageBytes"); Load names
// the flag or VEIL_* variable instead.
func (c Config) Validate() error {
	var errs []error
	fail := func(field, format string, args ...any) { errs = append(errs, config.Errorf(field, format, args...)) }
	if err := validListen(c.Listen); err != nil {
		fail("Listen", "%v", err)
	}
	if c.MetricsListen != "" && !strings.Contains(c.MetricsListen, ":") {
		fail("MetricsListen", "%q is not host:port (empty: no metrics)", c.MetricsListen)
	}
	if c.DataDirMode > 0o777 || c.DataDirMode&0o700 != 0o700 {
		fail("DataDirMode", "%#o is not a mode that lets Veil read, write and enter its folders (e.g. 0750)", c.DataDirMode)
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		fail("Secret", "is %d characters; use at least 32 random characters (e.g. `openssl rand -hex 32`)", len(c.Secret))
	}
	for _, old := range c.OldSecrets {
		if len(old) < 32 {
			fail("OldSecrets", "every old secret needs at least 32 characters")
			break
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		fail("LogFormat", "%q is not text or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		fail("ShutdownTimeout", "%v is not a positive duration (e.g. 30s)", c.ShutdownTimeout)
	}
	if !slices.Contains([]string{"auto", "file-mode", "mem", "simulate", "s3-acl", "s3-tags", "gcs-acl", "none"}, c.StorageACL) {
		fail("StorageACL", "%q is not auto, file-mode, s3-acl, s3-tags, gcs-acl, mem, simulate or none", c.StorageACL)
	}
	if c.PermissionRetryInterval < time.Second {
		fail("PermissionRetryInterval", "%v is not a duration of at least 1s", c.PermissionRetryInterval)
	}
	if c.PermissionRetryBatch < 1 || c.PermissionRetryBatch > 10000 {
		fail("PermissionRetryBatch", "%d is not an integer from 1 to 10000", c.PermissionRetryBatch)
	}
	if c.EagerWorkers < 1 || c.EagerWorkers > 256 {
		fail("EagerWorkers", "%d is not an integer from 1 to 256", c.EagerWorkers)
	}
	switch {
	case c.EventsURL == "mem://":
	case strings.HasPrefix(c.EventsURL, "nats://"):
		if os.Getenv("NATS_SERVER_URL") == "" {
			fail("EventsURL", "nats:// needs NATS_SERVER_URL (e.g. nats://127.0.0.1:4222)")
		}
	default:
		fail("EventsURL", "%q is not mem:// or nats://subject", c.EventsURL)
	}
	if c.CDNPurge != "" {
		if _, err := purge.Open(c.CDNPurge, "", purge.Options{}, nil); err != nil {
			errs = append(errs, err) // a *config.FieldError on CDNPurge
		} else if c.CDNPurge != "log" && c.Server.PublicURL == "" {
			fail("CDNPurge", "needs VEIL_PUBLIC_URL: the CDN caches Veil's URLs under the public address, which Veil must know to purge them")
		}
	}
	ro := c.Media.Renditions.Options
	for _, r := range []struct {
		field     string
		v, lo, hi int64
	}{
		{"Media.Renditions.Options.JPEGQuality", int64(ro.JPEGQuality), 1, 100},
		{"Media.Renditions.Options.WebPQuality", int64(ro.WebPQuality), 1, 100},
		{"Media.Renditions.Options.AVIFQuality", int64(ro.AVIFQuality), 1, 100},
		{"Media.Renditions.Options.AVIFSpeed", int64(ro.AVIFSpeed), 1, 10},
		{"Media.Renditions.Options.Limits.MaxOutputSide", int64(ro.Limits.MaxOutputSide), 1, 16383},
		{"Media.Renditions.Options.Limits.MaxOperations", int64(ro.Limits.MaxOperations), 1, 100},
		{"Media.Renditions.Options.Limits.MaxAVIFPixels", ro.Limits.MaxAVIFPixels, 1, 1 << 40},
		{"Media.Renditions.MaxSlowEncodes", int64(c.Media.Renditions.MaxSlowEncodes), 0, 1024},
		{"Media.Renditions.MaxQueue", int64(c.Media.Renditions.MaxQueue), 0, 1 << 20},
		{"Media.Renditions.MaxPerImage", int64(c.Media.Renditions.MaxPerImage), 0, 1 << 20},
	} {
		if r.v < r.lo || r.v > r.hi {
			fail(r.field, "%d is not an integer from %d to %d", r.v, r.lo, r.hi)
		}
	}
	if c.Media.Permissions.Workers < 1 || c.Media.Permissions.Workers > 4096 {
		fail("Media.Permissions.Workers", "%d is not an integer from 1 to 4096", c.Media.Permissions.Workers)
	}
	if c.Media.Permissions.Lease < time.Second {
		fail("Media.Permissions.Lease", "%v is not a duration of at least 1s", c.Media.Permissions.Lease)
	}
	if c.DB.StatementTimeout <= 0 {
		fail("DB.StatementTimeout", "%v is not a positive duration", c.DB.StatementTimeout)
	}
	if c.DB.AcquireTimeout <= 0 {
		fail("DB.AcquireTimeout", "%v is not a positive duration", c.DB.AcquireTimeout)
	}
	if c.Media.Permissions.CallTimeout <= 0 {
		fail("Media.Permissions.CallTimeout", "%v is not a positive duration", c.Media.Permissions.CallTimeout)
	}
	if c.Media.SubscriptionBuffer < 1 {
		fail("Media.SubscriptionBuffer", "%d is not a positive integer", c.Media.SubscriptionBuffer)
	}
	errs = append(errs,
		config.Within("Auth", c.Auth.Validate()),
		config.Within("DB", c.DB.Validate()),
		config.Within("Storage", c.Storage.Validate()),
		config.Within("Media", c.Media.Validate()),
		config.Within("Server", c.Server.Validate()),
		config.Within("Events", c.Events.Validate()),
	)
	return errors.Join(errs...)
}

// validListen checks a host:port listen address, suggesting ":8081" for a bare "8081".
func validListen(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		if n, perr := strconv.Atoi(v); perr == nil && n >= 0 && n <= 65535 {
			return fmt.Errorf("%q is not host:port; did you mean \":%s\" (all interfaces) or \"127.0.0.1:%s\"?", v, v, v)
		}
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080 or :8080)", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", v, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: %q is not a host name or address", v, host)
	}
	return nil
}
