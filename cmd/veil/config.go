package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/storage"
)

// Config is Veil's whole configuration, composed of each package's own.
type Config struct {
	Listen string
	// MetricsListen is where /metrics is served (VEIL_METRICS_LISTEN, default 127.0.0.1:9090;
	// empty: nowhere). The main listener does not serve it.
	MetricsListen   string
	DataDir         string
	DataDirMode     os.FileMode
	Secret          string
	OldSecrets      []string
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration

	TokenAdmin bool   // veil token create --admin
	TokenEmail string // veil token create --email
	TokenName  string // veil token create --token-name
	DryRun     bool   // veil retry-permissions --dry-run

	StorageACL              string
	PermissionRetryInterval time.Duration
	PermissionRetryBatch    int

	EventsURL string

	CDNPurge     string // VEIL_CDN_PURGE, validated by purge.Open
	CDNPurgeAuth string // VEIL_CDN_PURGE_AUTH

	Auth    auth.Config
	DB      models.DBConfig
	Storage storage.Config
	Media   media.Config
	Server  server.Config

	listener net.Listener // veil serve binds before creating anything
}

// setting is one configuration value: a flag and the environment variable behind it.
type setting struct {
	flag, env, usage string
	def              string
	val              *string
}

// loadConfig reads flags (highest precedence), then VEIL_* variables, then defaults, and
// validates everything, naming the offending variable.
func loadConfig(fs *flag.FlagSet, args []string) (*Config, error) {
	settings := []*setting{
		{flag: "listen", env: "VEIL_LISTEN", def: "127.0.0.1:8080", usage: "address to listen on"},
		{flag: "metrics-listen", env: "VEIL_METRICS_LISTEN", def: "127.0.0.1:9090", usage: "address of the Prometheus /metrics listener, not served on the main one (empty: no metrics)"},
		{flag: "data-dir", env: "VEIL_DATA_DIR", def: "./data", usage: "folder for the embedded database, media and secret"},
		{flag: "data-dir-mode", env: "VEIL_DATA_DIR_MODE", def: "0750", usage: "mode of folders Veil creates (octal)"},
		{flag: "database-url", env: "VEIL_DATABASE_URL", usage: "sqlite:<path> or postgres://… (default sqlite:<data-dir>/veil.db)"},
		{flag: "storage-url", env: "VEIL_STORAGE_URL", usage: "gocloud blob URL: file:///…, s3://…, gs://…, azblob://…, mem:// (default file://<data-dir>/media)"},
		{flag: "public-url", env: "VEIL_PUBLIC_URL", usage: "external base URL, e.g. https://media.example.com (default: relative URLs)"},
		{flag: "secret", env: "VEIL_SECRET", usage: "signing secret, at least 32 characters (default: generated once into <data-dir>/secret)"},
		{flag: "max-image-bytes", env: "VEIL_MAX_IMAGE_BYTES", def: "50MiB", usage: "largest image upload"},
		{flag: "max-document-bytes", env: "VEIL_MAX_DOCUMENT_BYTES", def: "2GiB", usage: "largest document upload"},
		{flag: "max-request-bytes", env: "VEIL_MAX_REQUEST_BYTES", def: "1MiB", usage: "largest non-upload request body"},
		{flag: "upload-temp-dir", env: "VEIL_UPLOAD_TEMP_DIR", usage: "folder for upload file parts spooled because they arrived out of order (default: the system's temporary folder)"},
		{flag: "upload-spool-request-max", env: "VEIL_UPLOAD_SPOOL_REQUEST_MAX", def: "256MiB", usage: "most bytes one upload request may spool to the temporary folder"},
		{flag: "upload-spool-max", env: "VEIL_UPLOAD_SPOOL_MAX", def: "1GiB", usage: "most bytes all upload requests together may hold spooled at once"},
		{flag: "max-source-pixels", env: "VEIL_MAX_SOURCE_PIXELS", def: "50000000", usage: "largest image (width × height) accepted"},
		{flag: "max-complexity", env: "VEIL_MAX_COMPLEXITY", def: "5000", usage: "largest GraphQL query complexity (lists count their page size)"},
		{flag: "max-query-tokens", env: "VEIL_MAX_QUERY_TOKENS", def: "10000", usage: "most lexical tokens in one GraphQL document"},
		{flag: "max-query-depth", env: "VEIL_MAX_QUERY_DEPTH", def: "20", usage: "deepest nesting of fields (fragments expanded) or of argument values in a GraphQL document"},
		{flag: "max-query-fields", env: "VEIL_MAX_QUERY_FIELDS", def: "2000", usage: "most fields in one GraphQL operation or fragment once its fragment spreads are expanded"},
		{flag: "max-aliases", env: "VEIL_MAX_ALIASES", def: "100", usage: "most aliased fields in one GraphQL operation or fragment, spreads expanded"},
		{flag: "max-query-fragments", env: "VEIL_MAX_QUERY_FRAGMENTS", def: "50", usage: "most fragment definitions in one GraphQL document"},
		{flag: "max-query-operations", env: "VEIL_MAX_QUERY_OPERATIONS", def: "20", usage: "most operations in one GraphQL document"},
		{flag: "max-response-bytes", env: "VEIL_MAX_RESPONSE_BYTES", def: "4MiB", usage: "largest GraphQL response (or subscription event); larger ones are replaced by a RESPONSE_TOO_LARGE error"},
		{flag: "introspection", env: "VEIL_INTROSPECTION", def: "true", usage: "allow GraphQL introspection"},
		{flag: "rendition-old-secrets", env: "VEIL_RENDITION_OLD_SECRETS", usage: "comma-separated previous VEIL_SECRET values whose rendition URLs still verify (key rotation)"},
		{flag: "rendition-presets", env: "VEIL_RENDITION_PRESETS", usage: "named specs served without a signature: name=spec;name=spec"},
		{flag: "rendition-eager", env: "VEIL_RENDITION_EAGER", usage: "specs generated in the background after each image upload: spec;spec"},
		{flag: "rendition-max-memory", env: "VEIL_RENDITION_MAX_MEMORY", def: "1GiB", usage: "estimated memory all concurrent rendition generations may use"},
		{flag: "rendition-max-queue", env: "VEIL_RENDITION_MAX_QUEUE", def: "64", usage: "generations that may wait for memory; more get 503 with Retry-After"},
		{flag: "rendition-max-slow-encodes", env: "VEIL_RENDITION_MAX_SLOW_ENCODES", def: "0", usage: "AVIF encodes that may run at once (0: half the CPUs, at least 1); others wait in the queue"},
		{flag: "rendition-timeout", env: "VEIL_RENDITION_TIMEOUT", def: "30s", usage: "longest one rendition may take to generate"},
		{flag: "rendition-max-per-image", env: "VEIL_RENDITION_MAX_PER_IMAGE", def: "100", usage: "renditions stored per image; past it the least recently used (not presets or eager specs) are deleted (0: no bound)"},
		{flag: "rendition-anonymous", env: "VEIL_RENDITION_ANONYMOUS", def: "any", usage: "what anonymous viewers may request: any (every signed spec) or presets (presets, eager specs and VEIL_RENDITION_ANONYMOUS_SPECS; others 403)"},
		{flag: "rendition-anonymous-specs", env: "VEIL_RENDITION_ANONYMOUS_SPECS", usage: "signed specs anonymous viewers may request under presets, brace expansion allowed: spec;spec (e.g. width-{320,640,1280}|format-webp)"},
		{flag: "max-output-side", env: "VEIL_MAX_OUTPUT_SIDE", def: "4000", usage: "largest rendition width or height"},
		{flag: "max-avif-pixels", env: "VEIL_MAX_AVIF_PIXELS", def: "4000000", usage: "largest AVIF rendition (width × height); AVIF encoding is slow and memory-hungry"},
		{flag: "max-operations", env: "VEIL_MAX_OPERATIONS", def: "10", usage: "most operations in one rendition spec"},
		{flag: "jpeg-quality", env: "VEIL_JPEG_QUALITY", def: "76", usage: "default JPEG rendition quality (1-100)"},
		{flag: "webp-quality", env: "VEIL_WEBP_QUALITY", def: "80", usage: "default WebP rendition quality (1-100)"},
		{flag: "avif-quality", env: "VEIL_AVIF_QUALITY", def: "61", usage: "default AVIF rendition quality (1-100)"},
		{flag: "avif-speed", env: "VEIL_AVIF_SPEED", def: "8", usage: "AVIF encoder speed (1-10, 10 fastest; time traded for file size)"},
		{flag: "cors-origins", env: "VEIL_CORS_ORIGINS", usage: "comma-separated origins allowed to call the API from browsers (default none)"},
		{flag: "auth-cache-ttl", env: "VEIL_AUTH_CACHE_TTL", def: "2s", usage: "how long a token's permissions are reused before being read again (0 disables)"},
		{flag: "max-preview-ttl", env: "VEIL_MAX_PREVIEW_TTL", def: "24h", usage: "longest lifetime of a preview token"},
		{flag: "auth-failures-per-minute", env: "VEIL_AUTH_FAILURES_PER_MINUTE", def: "20", usage: "failed authentications per minute against one token id (or, for malformed credentials, from one client address) before further failures get 429; a valid token is never refused"},
		{flag: "trusted-proxies", env: "VEIL_TRUSTED_PROXIES", usage: "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (rightmost untrusted address is the client; default none)"},
		{flag: "cdn-purge", env: "VEIL_CDN_PURGE", usage: "purge the CDN on privacy changes: log, purge, purge:<cache url> (HTTP PURGE, Varnish-style) or webhook:<url> (JSON batches); empty: no purging"},
		{flag: "cdn-purge-auth", env: "VEIL_CDN_PURGE_AUTH", usage: "Authorization header value for the purge webhook"},
		{flag: "events-url", env: "VEIL_EVENTS_URL", def: "mem://", usage: "event bus: mem:// (this process) or nats://subject (all instances; server from NATS_SERVER_URL)"},
		{flag: "permission-workers", env: "VEIL_PERMISSION_WORKERS", def: "64", usage: "concurrent storage permission calls per sync"},
		{flag: "permission-call-timeout", env: "VEIL_PERMISSION_CALL_TIMEOUT", def: "10s", usage: "longest one storage permission call may take"},
		{flag: "storage-acl", env: "VEIL_STORAGE_ACL", def: "auto", usage: "file-permission driver: auto (probe the bucket), file-mode, s3-acl, s3-tags, gcs-acl, mem, simulate or none (proxy-only)"},
		{flag: "public-storage-url", env: "VEIL_PUBLIC_STORAGE_URL", usage: "public base URL of the bucket or its CDN (object key appended); empty: proxy-only"},
		{flag: "permission-retry-interval", env: "VEIL_PERMISSION_RETRY_INTERVAL", def: "5m", usage: "how often outdated file permissions are retried"},
		{flag: "permission-retry-batch", env: "VEIL_PERMISSION_RETRY_BATCH", def: "500", usage: "items one retry claims at a time"},
		{flag: "serve-cache-ttl", env: "VEIL_SERVE_CACHE_TTL", def: "1s", usage: "how long serve views reuse an image's row (0 disables)"},
		{flag: "subscription-buffer", env: "VEIL_SUBSCRIPTION_BUFFER", def: "1024", usage: "events one subscription may fall behind before it is dropped with SUBSCRIBER_TOO_SLOW"},
		{flag: "log-level", env: "VEIL_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
		{flag: "log-format", env: "VEIL_LOG_FORMAT", def: "text", usage: "text or json"},
		{flag: "shutdown-timeout", env: "VEIL_SHUTDOWN_TIMEOUT", def: "60s", usage: "how long in-flight requests may take to finish on SIGINT/SIGTERM"},
	}
	var tokenAdmin, dryRun bool
	if fs.Name() == "veil retry-permissions" {
		fs.BoolVar(&dryRun, "dry-run", false, "list outdated items, change nothing")
	}
	var tokenEmail, tokenName string
	if fs.Name() == "veil token create" {
		fs.BoolVar(&tokenAdmin, "admin", false, "make an admin token")
		fs.StringVar(&tokenEmail, "email", "admin@localhost", "email of the admin user (created if missing)")
		fs.StringVar(&tokenName, "token-name", "cli", "name of the new token")
	}
	byFlag := map[string]*setting{}
	for _, s := range settings {
		s.val = fs.String(s.flag, "", s.usage+" ["+s.env+"]"+defaultNote(s.def))
		byFlag[s.flag] = s
	}
	fs.Usage = func() { printUsage(fs, byFlag) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// get returns the value and the name to blame if it is wrong.
	get := func(name string) (string, string) {
		s := byFlag[name]
		if set[name] {
			return *s.val, "--" + s.flag
		}
		if v, ok := os.LookupEnv(s.env); ok {
			return v, s.env
		}
		return s.def, s.env
	}

	c := &Config{Media: media.DefaultConfig(), Server: server.DefaultConfig(), Auth: auth.DefaultConfig(),
		TokenAdmin: tokenAdmin, TokenEmail: tokenEmail, TokenName: tokenName, DryRun: dryRun}
	var errs []error
	fail := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	c.Listen, _ = get("listen")
	if v, name := get("listen"); true {
		if err := validListen(v); err != nil {
			fail(name, "%v", err)
		}
	}
	c.MetricsListen, _ = get("metrics-listen")
	if v, name := get("metrics-listen"); v != "" && !strings.Contains(v, ":") {
		fail(name, "%q is not host:port (empty: no metrics)", v)
	}
	c.DataDir, _ = get("data-dir")
	if v, name := get("data-dir-mode"); true {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o777 || m&0o700 != 0o700 {
			fail(name, "%q is not an octal mode that lets Veil read, write and enter its folders (e.g. 0750)", v)
		}
		c.DataDirMode = os.FileMode(m)
	}
	absData, err := filepath.Abs(c.DataDir)
	if err != nil {
		fail("VEIL_DATA_DIR", "%v", err)
	}
	c.DB = models.DBConfig{DirMode: c.DataDirMode}
	if v, name := get("database-url"); v != "" {
		c.DB.URL = v
		if err := c.DB.Validate(); err != nil {
			fail(name, "%v", strings.TrimPrefix(err.Error(), "VEIL_DATABASE_URL: "))
		}
	} else {
		c.DB.URL = "sqlite:" + filepath.Join(absData, "veil.db")
	}
	c.Storage = storage.Config{DirMode: c.DataDirMode}
	if v, name := get("storage-url"); v != "" {
		c.Storage.URL = v
		if err := c.Storage.Validate(); err != nil {
			fail(name, "%v", strings.TrimPrefix(err.Error(), "VEIL_STORAGE_URL: "))
		}
	} else {
		c.Storage.URL = "file://" + filepath.ToSlash(filepath.Join(absData, "media"))
	}
	c.Server.PublicURL, _ = get("public-url")
	c.Secret, _ = get("secret")
	if v, name := get("secret"); v != "" && len(v) < 32 {
		fail(name, "is %d characters; use at least 32 random characters (e.g. `openssl rand -hex 32`)", len(v))
	}
	sizes := []struct {
		flag string
		dst  *int64
	}{
		{"max-image-bytes", &c.Media.MaxImageBytes},
		{"max-document-bytes", &c.Media.MaxDocumentBytes},
		{"max-request-bytes", &c.Server.MaxRequestBytes},
		{"max-response-bytes", &c.Server.MaxResponseBytes},
		{"upload-spool-request-max", &c.Server.UploadSpoolRequestMax},
		{"upload-spool-max", &c.Server.UploadSpoolMax},
	}
	if v, _ := get("upload-temp-dir"); v != "" {
		c.Server.UploadTempDir = v
	}
	for _, sz := range sizes {
		v, name := get(sz.flag)
		n, err := parseSize(v)
		if err != nil || n <= 0 {
			fail(name, "%q is not a positive size (e.g. 50MiB, 2GiB, 1048576)", v)
			continue
		}
		*sz.dst = n
	}
	if v, name := get("max-source-pixels"); true {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			fail(name, "%q is not a positive integer", v)
		}
		c.Media.Images.MaxSourcePixels = n
		c.Media.Renditions.Options.Limits.MaxSourcePixels = n
	}
	rc := &c.Media.Renditions
	if v, name := get("max-avif-pixels"); true {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			fail(name, "%q is not a positive integer", v)
		}
		rc.Options.Limits.MaxAVIFPixels = n
	}
	if v, name := get("rendition-old-secrets"); v != "" {
		for _, old := range strings.Split(v, ",") {
			old = strings.TrimSpace(old)
			if len(old) < 32 {
				fail(name, "every old secret needs at least 32 characters")
				continue
			}
			c.OldSecrets = append(c.OldSecrets, old)
		}
	}
	if v, name := get("rendition-presets"); v != "" {
		rc.Presets = map[string]string{}
		for _, kv := range strings.Split(v, ";") {
			k, spec, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				fail(name, "%q is not name=spec", kv)
				continue
			}
			rc.Presets[strings.TrimSpace(k)] = strings.TrimSpace(spec)
		}
	}
	if v, _ := get("rendition-eager"); v != "" {
		for _, spec := range strings.Split(v, ";") {
			if spec = strings.TrimSpace(spec); spec != "" {
				rc.Eager = append(rc.Eager, spec)
			}
		}
	}
	if v, _ := get("rendition-anonymous"); true {
		rc.Anonymous = strings.TrimSpace(v)
	}
	if v, _ := get("rendition-anonymous-specs"); v != "" {
		for _, spec := range strings.Split(v, ";") {
			if spec = strings.TrimSpace(spec); spec != "" {
				rc.AnonymousSpecs = append(rc.AnonymousSpecs, spec)
			}
		}
	}
	if v, name := get("rendition-max-memory"); true {
		n, err := parseSize(v)
		if err != nil || n <= 0 {
			fail(name, "%q is not a positive size (e.g. 1GiB)", v)
		}
		rc.MaxMemoryBytes = n
	}
	if v, name := get("rendition-timeout"); true {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(name, "%q is not a positive duration (e.g. 30s)", v)
		}
		rc.Timeout = d
	}
	ints := []struct {
		flag     string
		dst      *int
		min, max int
	}{
		{"rendition-max-queue", &rc.MaxQueue, 0, 1 << 20},
		{"rendition-max-slow-encodes", &rc.MaxSlowEncodes, 0, 1024},
		{"rendition-max-per-image", &rc.MaxPerImage, 0, 1 << 20},
		{"max-output-side", &rc.Options.Limits.MaxOutputSide, 1, 100_000},
		{"max-operations", &rc.Options.Limits.MaxOperations, 1, 100},
		{"jpeg-quality", &rc.Options.JPEGQuality, 1, 100},
		{"webp-quality", &rc.Options.WebPQuality, 1, 100},
		{"avif-quality", &rc.Options.AVIFQuality, 1, 100},
		{"max-query-tokens", &c.Server.Query.MaxTokens, 100, 1 << 20},
		{"max-query-depth", &c.Server.Query.MaxDepth, 2, 1000},
		{"max-query-fields", &c.Server.Query.MaxFields, 10, 1 << 20},
		{"max-aliases", &c.Server.Query.MaxAliases, 1, 1 << 20},
		{"max-query-fragments", &c.Server.Query.MaxFragments, 1, 10000},
		{"max-query-operations", &c.Server.Query.MaxOperations, 1, 1000},
		{"avif-speed", &rc.Options.AVIFSpeed, 1, 10},
		{"subscription-buffer", &c.Media.SubscriptionBuffer, 1, 1 << 20},
	}
	for _, in := range ints {
		v, name := get(in.flag)
		n, err := strconv.Atoi(v)
		if err != nil || n < in.min || n > in.max {
			fail(name, "%q is not an integer from %d to %d", v, in.min, in.max)
			continue
		}
		*in.dst = n
	}
	if v, _ := get("cors-origins"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.Server.CORSOrigins = append(c.Server.CORSOrigins, o)
			}
		}
	}
	if v, name := get("trusted-proxies"); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			pfx, err := server.ParseTrustedProxy(p)
			if err != nil {
				fail(name, "%q is not a CIDR (e.g. 10.0.0.0/8) or an IP address", p)
				continue
			}
			c.Server.TrustedProxies = append(c.Server.TrustedProxies, pfx)
		}
	}
	durations := []struct {
		flag string
		dst  *time.Duration
		zero bool
	}{
		{"auth-cache-ttl", &c.Auth.CacheTTL, true},
		{"max-preview-ttl", &c.Auth.MaxPreviewTTL, false},
		{"serve-cache-ttl", &c.Media.ServeCacheTTL, true},
	}
	for _, d := range durations {
		v, name := get(d.flag)
		dur, err := time.ParseDuration(v)
		if err != nil || dur < 0 || dur == 0 && !d.zero {
			fail(name, "%q is not a valid duration (e.g. 2s, 24h)", v)
			continue
		}
		*d.dst = dur
	}
	if v, name := get("cdn-purge"); v != "" {
		if _, err := purge.Open(v, "", purge.Options{}, nil); err != nil {
			fail(name, "%s", strings.TrimPrefix(err.Error(), "VEIL_CDN_PURGE: "))
		} else if v != "log" && c.Server.PublicURL == "" {
			fail(name, "needs VEIL_PUBLIC_URL: the CDN caches Veil's URLs under the public address, which Veil must know to purge them")
		}
		c.CDNPurge = v
		c.CDNPurgeAuth, _ = get("cdn-purge-auth")
	}
	if v, name := get("events-url"); true {
		if v != "mem://" && !strings.HasPrefix(v, "nats://") {
			fail(name, "%q is not mem:// or nats://subject", v)
		}
		if strings.HasPrefix(v, "nats://") && os.Getenv("NATS_SERVER_URL") == "" {
			fail(name, "nats:// needs NATS_SERVER_URL (e.g. nats://127.0.0.1:4222)")
		}
		c.EventsURL = v
	}
	if v, name := get("permission-retry-batch"); true {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			fail(name, "%q is not an integer from 1 to 10000", v)
		}
		c.PermissionRetryBatch = n
	}
	if v, name := get("permission-workers"); true {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 4096 {
			fail(name, "%q is not an integer from 1 to 4096", v)
		}
		c.Media.Permissions.Workers = n
	}
	if v, name := get("permission-call-timeout"); true {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(name, "%q is not a positive duration", v)
		}
		c.Media.Permissions.CallTimeout = d
	}
	if v, name := get("storage-acl"); true {
		switch v {
		case "auto", "file-mode", "mem", "simulate", "s3-acl", "s3-tags", "gcs-acl", "none":
			c.StorageACL = v
		default:
			fail(name, "%q is not auto, file-mode, s3-acl, s3-tags, gcs-acl, mem, simulate or none", v)
		}
	}
	if v, name := get("public-storage-url"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail(name, "%q is not an absolute http(s) URL", v)
		}
		c.Media.DirectBaseURL = v
	}
	if v, name := get("permission-retry-interval"); true {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			fail(name, "%q is not a duration of at least 1s", v)
		}
		c.PermissionRetryInterval = d
	}
	if v, name := get("auth-failures-per-minute"); true {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(name, "%q is not a positive integer", v)
		}
		c.Auth.FailuresPerMinute = n
	}
	if v, name := get("max-complexity"); true {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			fail(name, "%q is not an integer of at least 10", v)
		}
		c.Server.MaxComplexity = n
	}
	if v, name := get("introspection"); true {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(name, "%q is not true or false", v)
		}
		c.Server.Introspection = b
	}
	if v, name := get("log-level"); true {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			fail(name, "%q is not debug, info, warn or error", v)
		}
	}
	if v, name := get("log-format"); v != "text" && v != "json" {
		fail(name, "%q is not text or json", v)
	} else {
		c.LogFormat = v
	}
	if v, name := get("shutdown-timeout"); true {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(name, "%q is not a positive duration (e.g. 30s)", v)
		}
		c.ShutdownTimeout = d
	}
	// A multipart request carries one file plus small JSON fields.
	c.Server.MaxUploadRequestBytes = max(c.Media.MaxImageBytes, c.Media.MaxDocumentBytes) + c.Server.MaxRequestBytes*2 + 64<<10
	if len(errs) == 0 {
		for _, v := range []interface{ Validate() error }{c.Media, c.Server, c.Auth} {
			if err := v.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return c, errors.Join(errs...)
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

// printUsage lists every flag with the type of value it takes, its meaning, its VEIL_* variable
// and its default.
func printUsage(fs *flag.FlagSet, settings map[string]*setting) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: %s [flags]\n\nFlags win over VEIL_* variables, which win over defaults.\n\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := "", f.Usage
		if s, ok := settings[f.Name]; ok {
			kind = settingType(s.def)
		} else if k, u := flag.UnquoteUsage(f); k != "" {
			kind, usage = k, u
		}
		fmt.Fprintf(w, "  --%s %s\n    \t%s\n", f.Name, kind, usage)
	})
}

// settingType names the kind of value a setting takes, for -h (flag shows it after the name).
func settingType(def string) string {
	switch {
	case def == "":
		return "string"
	case def == "true" || def == "false":
		return "bool"
	}
	if _, err := strconv.Atoi(def); err == nil {
		if strings.HasPrefix(def, "0") && len(def) > 1 {
			return "mode"
		}
		return "int"
	}
	if _, err := time.ParseDuration(def); err == nil {
		return "duration"
	}
	if _, err := parseSize(def); err == nil {
		return "size"
	}
	return "string"
}

func defaultNote(def string) string {
	if def == "" {
		return ""
	}
	return " (default " + def + ")"
}

// parseSize reads 1048576, 1MiB, 1MB, 512KiB, 2GiB, 2G (binary units; "MB" means MiB too, as
// people write it).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	return int64(f * mult), nil
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

// derivedKey derives a key for one purpose from a secret, so the secret itself is never used for
// two purposes (rendition URLs, preview tokens).
func derivedKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("veil " + purpose + " key v1"))
	return m.Sum(nil)
}
