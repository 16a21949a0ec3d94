package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/server"
)

// Setting is one line of the configuration table: a field of Config, the flag and VEIL_*
// variable that set it, and what it means. Help text (`veil serve -h`), the README's
// configuration table (MarkdownTable) and validation messages all come from this table.
type Setting struct {
	Flag  string // without dashes
	Env   string
	Field string // path below Config: "Media.MaxImageBytes"
	Kind  Kind
	Usage string
	// Default, when set, describes a default that is not a plain value ("sqlite:<data-dir>/veil.db").
	Default string
}

// Kind is how a setting's text is read.
type Kind string

// Kinds of settings.
const (
	KindString   Kind = "string"
	KindInt      Kind = "int"
	KindSize     Kind = "size"     // 1048576, 512KiB, 50MiB, 2GiB
	KindDuration Kind = "duration" // 30s, 5m, 24h
	KindBool     Kind = "bool"
	KindMode     Kind = "mode"    // octal, 0750
	KindList     Kind = "list"    // comma-separated
	KindSpecs    Kind = "specs"   // semicolon-separated
	KindPresets  Kind = "presets" // name=spec;name=spec
	KindLevel    Kind = "level"   // debug, info, warn, error
	KindCIDRs    Kind = "cidrs"   // comma-separated CIDRs or addresses
)

// Settings is the configuration table.
var Settings = []Setting{
	{Flag: "listen", Env: "VEIL_LISTEN", Field: "Listen", Kind: KindString, Usage: "address to listen on, host:port (`:0` picks a free port; the address is printed)"},
	{Flag: "metrics-listen", Env: "VEIL_METRICS_LISTEN", Field: "MetricsListen", Kind: KindString, Usage: "address of the listener for Prometheus /metrics and /debug/pprof, which the API listener does not serve; no authentication, so keep it on loopback or a private network (empty: no metrics)"},
	{Flag: "data-dir", Env: "VEIL_DATA_DIR", Field: "DataDir", Kind: KindString, Usage: "folder for the embedded database, media and generated secret"},
	{Flag: "data-dir-mode", Env: "VEIL_DATA_DIR_MODE", Field: "DataDirMode", Kind: KindMode, Usage: "mode of every folder Veil creates (octal)"},
	{Flag: "ephemeral", Env: "VEIL_EPHEMERAL", Field: "Ephemeral", Kind: KindBool, Usage: "in-memory database and mem:// bucket, nothing left on disk at exit, no metrics listener unless VEIL_METRICS_LISTEN is set: for other projects' CI (pair with VEIL_BOOTSTRAP_TOKEN)"},
	{Flag: "database-url", Env: "VEIL_DATABASE_URL", Field: "DB.URL", Kind: KindString, Default: "sqlite:<data-dir>/veil.db", Usage: "sqlite:<path> or postgres://user:pass@host/db?sslmode=disable"},
	{Flag: "storage-url", Env: "VEIL_STORAGE_URL", Field: "Storage.URL", Kind: KindString, Default: "file://<data-dir>/media", Usage: "any gocloud blob URL: file:///abs, mem://, s3://bucket?region=…, gs://bucket, azblob://container"},
	{Flag: "public-url", Env: "VEIL_PUBLIC_URL", Field: "Server.PublicURL", Kind: KindString, Default: "(relative URLs)", Usage: "external base URL used in the URLs the API returns, e.g. https://media.example.com"},
	{Flag: "secret", Env: "VEIL_SECRET", Field: "Secret", Kind: KindString, Default: "generated into <data-dir>/secret", Usage: "signing secret of rendition URLs and preview tokens, at least 32 characters; set it when several instances share a database"},
	{Flag: "rendition-old-secrets", Env: "VEIL_RENDITION_OLD_SECRETS", Field: "OldSecrets", Kind: KindList, Usage: "previous VEIL_SECRET values whose rendition URLs and preview tokens still verify (key rotation)"},
	{Flag: "bootstrap-token", Env: "VEIL_BOOTSTRAP_TOKEN", Field: "Auth.BootstrapToken", Kind: KindString, Usage: "API token of the first admin, chosen by you (32–200 printable characters) instead of a generated one printed once; only for a new instance"},
	{Flag: "max-image-bytes", Env: "VEIL_MAX_IMAGE_BYTES", Field: "Media.MaxImageBytes", Kind: KindSize, Usage: "largest image upload"},
	{Flag: "max-document-bytes", Env: "VEIL_MAX_DOCUMENT_BYTES", Field: "Media.MaxDocumentBytes", Kind: KindSize, Usage: "largest document upload"},
	{Flag: "max-request-bytes", Env: "VEIL_MAX_REQUEST_BYTES", Field: "Server.MaxRequestBytes", Kind: KindSize, Usage: "largest non-upload request body (and the operations/map fields of an upload)"},
	{Flag: "upload-temp-dir", Env: "VEIL_UPLOAD_TEMP_DIR", Field: "Server.UploadTempDir", Kind: KindString, Default: "(the system's temporary folder)", Usage: "folder for upload file parts spooled because they arrived out of order"},
	{Flag: "upload-spool-request-max", Env: "VEIL_UPLOAD_SPOOL_REQUEST_MAX", Field: "Server.UploadSpoolRequestMax", Kind: KindSize, Usage: "most bytes one upload request may spool to disk (clients sending files in map order never spool)"},
	{Flag: "upload-spool-max", Env: "VEIL_UPLOAD_SPOOL_MAX", Field: "Server.UploadSpoolMax", Kind: KindSize, Usage: "most bytes all upload requests together may hold spooled at once (UPLOAD_SPOOL_LIMIT past either)"},
	{Flag: "presigned-upload-ttl", Env: "VEIL_PRESIGNED_UPLOAD_TTL", Field: "Media.StagedUploadTTL", Kind: KindDuration, Usage: "how long the signed URL of a presigned upload (createUpload) is valid and the upload may be completed; the reconciler removes uploads not completed by then"},
	{Flag: "resumable-upload-expiry", Env: "VEIL_RESUMABLE_UPLOAD_EXPIRY", Field: "Media.Resumable.Expiry", Kind: KindDuration, Usage: "how long a resumable (tus) upload at /uploads/ may take from its creation; past it, it is refused and the reconciler removes its parts"},
	{Flag: "resumable-upload-lock-lease", Env: "VEIL_RESUMABLE_UPLOAD_LOCK_LEASE", Field: "Media.Resumable.LockLease", Kind: KindDuration, Usage: "lease of a request on a resumable upload, renewed while it runs: how long a resumed upload waits for an instance that died while receiving it"},
	{Flag: "max-open-uploads-per-user", Env: "VEIL_MAX_OPEN_UPLOADS_PER_USER", Field: "Media.MaxOpenUploadsPerUser", Kind: KindInt, Usage: "uploads, presigned (createUpload) and resumable (tus) together, one user may have open (neither completed nor expired) at once; more are refused with OPEN_UPLOAD_LIMIT before any URL is signed or byte received (0: no bound)"},
	{Flag: "max-open-upload-bytes-per-user", Env: "VEIL_MAX_OPEN_UPLOAD_BYTES_PER_USER", Field: "Media.MaxOpenUploadBytesPerUser", Kind: KindSize, Usage: "most bytes one user's open uploads may declare together; an upload that would take them past it is refused with OPEN_UPLOAD_LIMIT"},
	{Flag: "max-source-pixels", Env: "VEIL_MAX_SOURCE_PIXELS", Field: "Media.Images.MaxSourcePixels", Kind: KindInt, Usage: "largest image (width × height) accepted; checked on the header before anything is stored"},
	{Flag: "max-complexity", Env: "VEIL_MAX_COMPLEXITY", Field: "Server.MaxComplexity", Kind: KindInt, Usage: "largest GraphQL query complexity (list fields count their page size)"},
	{Flag: "max-query-tokens", Env: "VEIL_MAX_QUERY_TOKENS", Field: "Server.Query.MaxTokens", Kind: KindInt, Usage: "most lexical tokens in one GraphQL document (checked before parsing completes)"},
	{Flag: "max-query-depth", Env: "VEIL_MAX_QUERY_DEPTH", Field: "Server.Query.MaxDepth", Kind: KindInt, Usage: "deepest nesting of fields (fragments expanded) or of argument values in a GraphQL document"},
	{Flag: "max-query-fields", Env: "VEIL_MAX_QUERY_FIELDS", Field: "Server.Query.MaxFields", Kind: KindInt, Usage: "most fields in one GraphQL operation or fragment once its fragment spreads are expanded"},
	{Flag: "max-aliases", Env: "VEIL_MAX_ALIASES", Field: "Server.Query.MaxAliases", Kind: KindInt, Usage: "most aliased fields in one GraphQL operation or fragment, spreads expanded"},
	{Flag: "max-query-fragments", Env: "VEIL_MAX_QUERY_FRAGMENTS", Field: "Server.Query.MaxFragments", Kind: KindInt, Usage: "most fragment definitions in one GraphQL document"},
	{Flag: "max-query-operations", Env: "VEIL_MAX_QUERY_OPERATIONS", Field: "Server.Query.MaxOperations", Kind: KindInt, Usage: "most operations in one GraphQL document"},
	{Flag: "max-response-bytes", Env: "VEIL_MAX_RESPONSE_BYTES", Field: "Server.MaxResponseBytes", Kind: KindSize, Usage: "largest GraphQL response (or subscription event); larger ones are replaced by a RESPONSE_TOO_LARGE error"},
	{Flag: "introspection", Env: "VEIL_INTROSPECTION", Field: "Server.Introspection", Kind: KindBool, Usage: "allow GraphQL introspection"},
	{Flag: "rendition-presets", Env: "VEIL_RENDITION_PRESETS", Field: "Media.Renditions.Presets", Kind: KindPresets, Usage: "named specs served without a signature: name=spec;name=spec"},
	{Flag: "rendition-eager", Env: "VEIL_RENDITION_EAGER", Field: "Media.Renditions.Eager", Kind: KindSpecs, Usage: "specs generated in the background after each image upload: spec;spec"},
	{Flag: "rendition-max-memory", Env: "VEIL_RENDITION_MAX_MEMORY", Field: "Media.Renditions.MaxMemoryBytes", Kind: KindSize, Usage: "estimated memory all concurrent rendition generations may use"},
	{Flag: "rendition-max-queue", Env: "VEIL_RENDITION_MAX_QUEUE", Field: "Media.Renditions.MaxQueue", Kind: KindInt, Usage: "generations that may wait for memory; more get 503 with Retry-After"},
	{Flag: "rendition-max-slow-encodes", Env: "VEIL_RENDITION_MAX_SLOW_ENCODES", Field: "Media.Renditions.MaxSlowEncodes", Kind: KindInt, Usage: "AVIF encodes that may run at once (0: half the CPUs, at least 1); others wait in the queue"},
	{Flag: "rendition-timeout", Env: "VEIL_RENDITION_TIMEOUT", Field: "Media.Renditions.Timeout", Kind: KindDuration, Usage: "longest one rendition may take to generate"},
	{Flag: "rendition-max-per-image", Env: "VEIL_RENDITION_MAX_PER_IMAGE", Field: "Media.Renditions.MaxPerImage", Kind: KindInt, Usage: "renditions stored per image; past it the least recently used (not presets or eager specs) are deleted, row and file (0: no bound)"},
	{Flag: "rendition-anonymous", Env: "VEIL_RENDITION_ANONYMOUS", Field: "Media.Renditions.Anonymous", Kind: KindString, Usage: "what anonymous viewers may request: any (every signed spec) or presets (presets, eager specs and VEIL_RENDITION_ANONYMOUS_SPECS; others 403)"},
	{Flag: "rendition-anonymous-specs", Env: "VEIL_RENDITION_ANONYMOUS_SPECS", Field: "Media.Renditions.AnonymousSpecs", Kind: KindSpecs, Usage: "signed specs anonymous viewers may request under presets, brace expansion allowed: spec;spec (e.g. width-{320,640,1280}|format-webp)"},
	{Flag: "max-output-side", Env: "VEIL_MAX_OUTPUT_SIDE", Field: "Media.Renditions.Options.Limits.MaxOutputSide", Kind: KindInt, Usage: "largest rendition width or height"},
	{Flag: "max-avif-pixels", Env: "VEIL_MAX_AVIF_PIXELS", Field: "Media.Renditions.Options.Limits.MaxAVIFPixels", Kind: KindInt, Usage: "largest AVIF rendition (width × height); AVIF encoding is slow and memory-hungry"},
	{Flag: "max-operations", Env: "VEIL_MAX_OPERATIONS", Field: "Media.Renditions.Options.Limits.MaxOperations", Kind: KindInt, Usage: "most operations in one rendition spec"},
	{Flag: "jpeg-quality", Env: "VEIL_JPEG_QUALITY", Field: "Media.Renditions.Options.JPEGQuality", Kind: KindInt, Usage: "default JPEG rendition quality (1-100)"},
	{Flag: "webp-quality", Env: "VEIL_WEBP_QUALITY", Field: "Media.Renditions.Options.WebPQuality", Kind: KindInt, Usage: "default WebP rendition quality (1-100)"},
	{Flag: "avif-quality", Env: "VEIL_AVIF_QUALITY", Field: "Media.Renditions.Options.AVIFQuality", Kind: KindInt, Usage: "default AVIF rendition quality (1-100)"},
	{Flag: "avif-speed", Env: "VEIL_AVIF_SPEED", Field: "Media.Renditions.Options.AVIFSpeed", Kind: KindInt, Usage: "AVIF encoder speed (1-10, 10 fastest; time traded for file size)"},
	{Flag: "cors-origins", Env: "VEIL_CORS_ORIGINS", Field: "Server.CORSOrigins", Kind: KindList, Usage: "origins allowed to call the API from browsers, comma-separated (default none)"},
	{Flag: "auth-cache-ttl", Env: "VEIL_AUTH_CACHE_TTL", Field: "Auth.CacheTTL", Kind: KindDuration, Usage: "how long a token's permissions are reused before being read again (0 disables)"},
	{Flag: "max-preview-ttl", Env: "VEIL_MAX_PREVIEW_TTL", Field: "Auth.MaxPreviewTTL", Kind: KindDuration, Usage: "longest lifetime of a preview token"},
	{Flag: "auth-failures-per-minute", Env: "VEIL_AUTH_FAILURES_PER_MINUTE", Field: "Auth.FailuresPerMinute", Kind: KindInt, Usage: "failed authentications per minute against one token id (or, for malformed credentials, from one client address) before further failures get 429; a valid token is never refused"},
	{Flag: "trusted-proxies", Env: "VEIL_TRUSTED_PROXIES", Field: "Server.TrustedProxies", Kind: KindCIDRs, Usage: "CIDRs of reverse proxies whose X-Forwarded-For is believed, comma-separated (the rightmost untrusted address is the client; default none)"},
	{Flag: "cdn-purge", Env: "VEIL_CDN_PURGE", Field: "CDNPurge", Kind: KindString, Usage: "purge the CDN on privacy changes: log, purge, purge:<cache url> (HTTP PURGE, Varnish-style) or webhook:<url> (JSON batches); all but log need VEIL_PUBLIC_URL (empty: no purging)"},
	{Flag: "cdn-purge-auth", Env: "VEIL_CDN_PURGE_AUTH", Field: "CDNPurgeAuth", Kind: KindString, Usage: "Authorization header value of the purge webhook"},
	{Flag: "events-url", Env: "VEIL_EVENTS_URL", Field: "EventsURL", Kind: KindString, Usage: "event bus: mem:// (this process) or nats://subject (all instances; server from NATS_SERVER_URL)"},
	{Flag: "permission-workers", Env: "VEIL_PERMISSION_WORKERS", Field: "Media.Permissions.Workers", Kind: KindInt, Usage: "concurrent storage permission calls per sync"},
	{Flag: "permission-call-timeout", Env: "VEIL_PERMISSION_CALL_TIMEOUT", Field: "Media.Permissions.CallTimeout", Kind: KindDuration, Usage: "longest one storage permission call may take"},
	{Flag: "storage-acl", Env: "VEIL_STORAGE_ACL", Field: "StorageACL", Kind: KindString, Usage: "file-permission driver: auto (probe the bucket), file-mode, s3-acl, s3-tags, gcs-acl, mem, simulate or none (proxy-only)"},
	{Flag: "public-storage-url", Env: "VEIL_PUBLIC_STORAGE_URL", Field: "Media.DirectBaseURL", Kind: KindString, Default: "(proxy-only)", Usage: "public base URL of the bucket or its CDN (object key appended)"},
	{Flag: "permission-retry-interval", Env: "VEIL_PERMISSION_RETRY_INTERVAL", Field: "PermissionRetryInterval", Kind: KindDuration, Usage: "how often outdated file permissions are retried"},
	{Flag: "permission-retry-batch", Env: "VEIL_PERMISSION_RETRY_BATCH", Field: "PermissionRetryBatch", Kind: KindInt, Usage: "items one retry claims (leases) at a time"},
	{Flag: "permission-lease", Env: "VEIL_PERMISSION_LEASE", Field: "Media.Permissions.Lease", Kind: KindDuration, Usage: "how long an instance's claim on the items it is setting file permissions of lasts; renewed every third of it while it works, so a dead instance's items are retried within one lease"},
	{Flag: "reconcile-interval", Env: "VEIL_RECONCILE_INTERVAL", Field: "ReconcileInterval", Kind: KindDuration, Usage: "how often the bucket is reconciled with the database (objects no row references removed, rows whose object is missing reported) after the run at start; 0: only at start"},
	{Flag: "reconcile-grace", Env: "VEIL_RECONCILE_GRACE", Field: "Reconcile.Grace", Kind: KindDuration, Usage: "how old an unreferenced object or a pending upload must be before reconciliation removes it; longer than the longest upload (0s: at once, for tests)"},
	{Flag: "db-statement-timeout", Env: "VEIL_DB_STATEMENT_TIMEOUT", Field: "DB.StatementTimeout", Kind: KindDuration, Usage: "longest one Postgres statement may take; past it (or VEIL_DB_ACQUIRE_TIMEOUT) a request answers DATABASE_UNAVAILABLE / 503"},
	{Flag: "db-acquire-timeout", Env: "VEIL_DB_ACQUIRE_TIMEOUT", Field: "DB.AcquireTimeout", Kind: KindDuration, Usage: "longest getting a Postgres connection may take, from the pool or a new one"},
	{Flag: "serve-cache-ttl", Env: "VEIL_SERVE_CACHE_TTL", Field: "Media.ServeCacheTTL", Kind: KindDuration, Usage: "how long serve views reuse an image's row (0 disables)"},
	{Flag: "event-retention", Env: "VEIL_EVENT_RETENTION", Field: "Events.Retention", Kind: KindDuration, Usage: "how long events are kept for resuming subscriptions and the audit log (2160h: 90 days); older delivered ones are pruned in batches"},
	{Flag: "event-relay-interval", Env: "VEIL_EVENT_RELAY_INTERVAL", Field: "Events.RelayInterval", Kind: KindDuration, Usage: "how often the event relay looks for events other instances recorded"},
	{Flag: "event-relay-lease", Env: "VEIL_EVENT_RELAY_LEASE", Field: "Events.Lease", Kind: KindDuration, Usage: "how long the event relay's claim lasts: when its holder dies another instance takes over within it"},
	{Flag: "webhook-allow-private", Env: "VEIL_WEBHOOK_ALLOW_PRIVATE", Field: "Webhooks.AllowPrivate", Kind: KindBool, Usage: "let webhook URLs resolve to loopback, link-local or private addresses (refused by default, when created and when dialled)"},
	{Flag: "subscription-buffer", Env: "VEIL_SUBSCRIPTION_BUFFER", Field: "Media.SubscriptionBuffer", Kind: KindInt, Usage: "events one subscription may fall behind before it is dropped with SUBSCRIBER_TOO_SLOW"},
	{Flag: "eager-workers", Env: "VEIL_EAGER_WORKERS", Field: "EagerWorkers", Kind: KindInt, Usage: "background workers generating the eager renditions of new uploads"},
	{Flag: "log-level", Env: "VEIL_LOG_LEVEL", Field: "LogLevel", Kind: KindLevel, Usage: "debug, info, warn or error"},
	{Flag: "log-format", Env: "VEIL_LOG_FORMAT", Field: "LogFormat", Kind: KindString, Usage: "text or json"},
	{Flag: "shutdown-timeout", Env: "VEIL_SHUTDOWN_TIMEOUT", Field: "ShutdownTimeout", Kind: KindDuration, Usage: "how long in-flight requests (uploads) may take to finish on SIGINT/SIGTERM"},
}

// DefaultText is the default of s as -h and the README show it.
func (s Setting) DefaultText() string {
	if s.Default != "" {
		return s.Default
	}
	def := Defaults()
	return format(s.Kind, field(&def, s.Field))
}

// flagText holds a flag's text until Load parses it by its setting's kind; a bool setting is a
// bool flag (--ephemeral alone means true).
type flagText struct {
	text   string
	isBool bool
}

func (f *flagText) String() string     { return f.text }
func (f *flagText) Set(v string) error { f.text = v; return nil }
func (f *flagText) IsBoolFlag() bool   { return f.isBool }

// Loader reads a Config from flags (highest precedence), VEIL_* variables, then defaults.
type Loader struct {
	fs     *flag.FlagSet
	vals   map[string]*string
	Getenv func(string) (string, bool) // os.LookupEnv unless replaced
}

// Register adds a flag for every setting to fs, and -h text listing them with their kinds,
// variables and defaults.
func Register(fs *flag.FlagSet) *Loader {
	l := &Loader{fs: fs, vals: map[string]*string{}, Getenv: os.LookupEnv}
	for _, s := range Settings {
		def := s.DefaultText()
		note := ""
		if def != "" {
			note = " (default " + def + ")"
		}
		v := &flagText{isBool: s.Kind == KindBool}
		l.vals[s.Flag] = &v.text
		fs.Var(v, s.Flag, s.Usage+" ["+s.Env+"]"+note)
	}
	fs.Usage = func() { l.printUsage() }
	return l
}

// Load parses args into fs and builds the validated Config. Every problem names the flag the
// operator passed or the VEIL_* variable they set.
func (l *Loader) Load(args []string) (Config, error) {
	if err := l.fs.Parse(args); err != nil {
		return Config{}, err
	}
	if l.fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %v", l.fs.Args())
	}
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c := Defaults()
	names := map[string]string{} // field → the name to blame
	givenFields := map[string]bool{}
	var errs []error
	for _, s := range Settings {
		name, text, given := s.Env, "", false
		if set[s.Flag] {
			name, text, given = "--"+s.Flag, *l.vals[s.Flag], true
		} else if v, ok := l.Getenv(s.Env); ok {
			text, given = v, true
		}
		names[s.Field] = name
		if !given {
			continue
		}
		givenFields[s.Field] = true
		if err := parse(s.Kind, text, field(&c, s.Field)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q %v", name, text, err))
		}
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	if c.Ephemeral && !givenFields["MetricsListen"] {
		// Two ephemeral instances of a CI job must not fight over the default metrics port.
		c.MetricsListen = ""
	}
	c.Resolve()
	if err := c.Validate(); err != nil {
		for _, e := range config.Fields(err) {
			var fe *config.FieldError
			if errors.As(e, &fe) {
				if n, ok := names[fe.Field]; ok {
					e = fmt.Errorf("%s: %s", n, fe.Reason)
				}
			}
			errs = append(errs, e)
		}
		return c, errors.Join(errs...)
	}
	return c, nil
}

// Env names the VEIL_* variable of a Config field path, or "" when no setting has it.
func Env(fieldPath string) string {
	for _, s := range Settings {
		if s.Field == fieldPath {
			return s.Env
		}
	}
	return ""
}

func (l *Loader) printUsage() {
	w := l.fs.Output()
	fmt.Fprintf(w, "usage: %s [flags]\n\nFlags win over VEIL_* variables, which win over defaults.\n\n", l.fs.Name())
	kinds := map[string]Kind{}
	for _, s := range Settings {
		kinds[s.Flag] = s.Kind
	}
	l.fs.VisitAll(func(f *flag.Flag) {
		kind, usage := string(kinds[f.Name]), f.Usage
		if kind == "" {
			kind, usage = flag.UnquoteUsage(f)
		}
		fmt.Fprintf(w, "  --%s %s\n    \t%s\n", f.Name, kind, usage)
	})
}

// MarkdownTable renders the configuration table for the README.
func MarkdownTable(w io.Writer) {
	fmt.Fprintln(w, "| Variable | Flag | Default | Meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range Settings {
		def := s.DefaultText()
		switch {
		case def == "":
			def = "(none)"
		case !strings.HasPrefix(def, "("):
			def = "`" + def + "`"
		}
		fmt.Fprintf(w, "| `%s` | `--%s` | %s | %s |\n", s.Env, s.Flag, markdownCell(def), markdownCell(s.Usage))
	}
}

// markdownCell escapes what a table cell cannot hold as is: a pipe, and angle brackets outside
// code spans (which would read as HTML).
func markdownCell(s string) string {
	var b strings.Builder
	inCode := false
	for _, r := range s {
		switch {
		case r == '`':
			inCode = !inCode
			b.WriteRune(r)
		case r == '|':
			b.WriteString(`\|`)
		case r == '<' && !inCode:
			b.WriteString("&lt;")
		case r == '>' && !inCode:
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// field returns the addressable value of a dotted path below c; a path that names no field is
// a programming error in the table (TestSettingsTable catches it).
func field(c *Config, path string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	for _, name := range strings.Split(path, ".") {
		v = v.FieldByName(name)
		if !v.IsValid() {
			panic("app: no Config field " + path)
		}
	}
	return v
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	levelType    = reflect.TypeFor[slog.Level]()
	prefixesType = reflect.TypeFor[[]netip.Prefix]()
)

// parse reads text of kind into v.
func parse(kind Kind, text string, v reflect.Value) error {
	text = strings.TrimSpace(text)
	switch kind {
	case KindString:
		v.SetString(text)
	case KindInt:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return errors.New("is not an integer")
		}
		v.SetInt(n)
	case KindSize:
		n, err := ParseSize(text)
		if err != nil || n <= 0 {
			return errors.New("is not a positive size (e.g. 50MiB, 2GiB, 1048576)")
		}
		v.SetInt(n)
	case KindDuration:
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 {
			return errors.New("is not a duration (e.g. 2s, 5m, 24h)")
		}
		v.SetInt(int64(d))
	case KindBool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return errors.New("is not true or false")
		}
		v.SetBool(b)
	case KindMode:
		m, err := strconv.ParseUint(text, 8, 32)
		if err != nil {
			return errors.New("is not an octal mode (e.g. 0750)")
		}
		v.SetUint(m)
	case KindList, KindSpecs:
		sep := ","
		if kind == KindSpecs {
			sep = ";"
		}
		var out []string
		for _, p := range strings.Split(text, sep) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		v.Set(reflect.ValueOf(out))
	case KindPresets:
		m := map[string]string{}
		for _, kv := range strings.Split(text, ";") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			k, spec, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("has %q, which is not name=spec", kv)
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(spec)
		}
		v.Set(reflect.ValueOf(m))
	case KindLevel:
		var l slog.Level
		if err := l.UnmarshalText([]byte(text)); err != nil {
			return errors.New("is not debug, info, warn or error")
		}
		v.Set(reflect.ValueOf(l))
	case KindCIDRs:
		var out []netip.Prefix
		for _, p := range strings.Split(text, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			pfx, err := server.ParseTrustedProxy(p)
			if err != nil {
				return fmt.Errorf("has %q, which is not a CIDR (e.g. 10.0.0.0/8) or an IP address", p)
			}
			out = append(out, pfx)
		}
		v.Set(reflect.ValueOf(out))
	default:
		return fmt.Errorf("has an unknown kind %q", kind)
	}
	return nil
}

// format renders v as its setting's text, so a default reads as an operator would write it.
func format(kind Kind, v reflect.Value) string {
	switch kind {
	case KindSize:
		return FormatSize(v.Int())
	case KindDuration:
		return formatDuration(time.Duration(v.Int()))
	case KindMode:
		return fmt.Sprintf("%#o", v.Uint())
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindLevel:
		return strings.ToLower(v.Interface().(slog.Level).String())
	case KindList, KindSpecs:
		sep := ","
		if kind == KindSpecs {
			sep = ";"
		}
		return strings.Join(v.Interface().([]string), sep)
	case KindPresets:
		m := v.Interface().(map[string]string)
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, k+"="+m[k])
		}
		return strings.Join(parts, ";")
	case KindCIDRs:
		var parts []string
		for _, p := range v.Interface().([]netip.Prefix) {
			parts = append(parts, p.String())
		}
		return strings.Join(parts, ",")
	}
	return v.String()
}

// formatDuration writes 30s, 5m, 24h rather than time.Duration's 5m0s.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d >= 2*time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// FormatSize writes n in the largest binary unit that divides it (50MiB, 2GiB).
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseSize reads 1048576, 1MiB, 1MB, 512KiB, 2GiB, 2G (binary units; "MB" means MiB too, as
// people write it).
func ParseSize(s string) (int64, error) {
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
