package media

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/renditions"
	"github.com/veil-media/veil/storage"
)

// Config holds the limits of the media domain.
type Config struct {
	// MaxImageBytes caps one image upload (VEIL_MAX_IMAGE_BYTES, default 50 MiB).
	MaxImageBytes int64
	// MaxDocumentBytes caps one document upload (VEIL_MAX_DOCUMENT_BYTES, default 2 GiB).
	MaxDocumentBytes int64
	// Images caps what an uploaded image header may claim (pixels, sides).
	Images renditions.Limits
	// Renditions governs on-demand renditions.
	Renditions RenditionConfig
	// Permissions governs setting storage permissions.
	Permissions PermissionConfig
	// DirectBaseURL is where public files can be fetched straight from storage or a CDN in front of
	// it (VEIL_PUBLIC_STORAGE_URL), object key appended. Empty means proxy-only: public files are
	// served through Veil with public cache headers, never redirected.
	DirectBaseURL string
	// ServeCacheTTL is how long serve views may reuse an image's row (VEIL_SERVE_CACHE_TTL,
	// default 1s; 0 disables). Changes made by this process are seen at once; changes made by
	// another instance within this time.
	ServeCacheTTL time.Duration
	// StagedUploadTTL is how long the signed URL of a presigned upload (createUpload) stays valid
	// and the upload may be completed (VEIL_PRESIGNED_UPLOAD_TTL, default 1h; 0 means the default).
	// After it the reconciler removes the upload and its staged bytes.
	StagedUploadTTL time.Duration
	// SubscriptionBuffer is how many events one subscription may fall behind before it is dropped
	// with a SUBSCRIBER_TOO_SLOW error (VEIL_SUBSCRIPTION_BUFFER, default 1024; 0 means the default).
	SubscriptionBuffer int
	// Resumable governs resumable (tus) uploads.
	Resumable ResumableConfig
	// MaxOpenUploadsPerUser is how many uploads, presigned and resumable together, one user may
	// have open (neither completed nor expired) at once; a new one past it is refused with an
	// *OpenUploadLimitError (VEIL_MAX_OPEN_UPLOADS_PER_USER, default 20; 0: no bound).
	MaxOpenUploadsPerUser int
	// MaxOpenUploadBytesPerUser bounds the declared sizes of one user's open uploads together
	// (VEIL_MAX_OPEN_UPLOAD_BYTES_PER_USER, default 20 GiB; 0: no bound).
	MaxOpenUploadBytesPerUser int64
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{MaxImageBytes: 50 << 20, MaxDocumentBytes: 2 << 30, Images: renditions.DefaultLimits(), Renditions: DefaultRenditionConfig(), ServeCacheTTL: time.Second, Permissions: DefaultPermissionConfig(), SubscriptionBuffer: DefaultSubscriptionBuffer, StagedUploadTTL: DefaultStagedUploadTTL, Resumable: DefaultResumableConfig(),
		MaxOpenUploadsPerUser: DefaultMaxOpenUploadsPerUser, MaxOpenUploadBytesPerUser: DefaultMaxOpenUploadBytesPerUser}
}

// Validate names the offending setting.
func (c Config) Validate() error {
	var errs []error
	if c.MaxImageBytes <= 0 {
		errs = append(errs, config.Errorf("MaxImageBytes", "must be positive, got %d", c.MaxImageBytes))
	}
	if c.MaxDocumentBytes <= 0 {
		errs = append(errs, config.Errorf("MaxDocumentBytes", "must be positive, got %d", c.MaxDocumentBytes))
	}
	if c.Images.MaxSourcePixels <= 0 {
		errs = append(errs, config.Errorf("Images.MaxSourcePixels", "must be positive, got %d", c.Images.MaxSourcePixels))
	}
	if c.SubscriptionBuffer < 0 {
		errs = append(errs, config.Errorf("SubscriptionBuffer", "must not be negative, got %d", c.SubscriptionBuffer))
	}
	if c.Permissions.Workers < 0 {
		errs = append(errs, config.Errorf("Permissions.Workers", "must not be negative, got %d", c.Permissions.Workers))
	}
	if c.Permissions.CallTimeout < 0 {
		errs = append(errs, config.Errorf("Permissions.CallTimeout", "must not be negative, got %v", c.Permissions.CallTimeout))
	}
	if c.MaxOpenUploadsPerUser < 0 {
		errs = append(errs, config.Errorf("MaxOpenUploadsPerUser", "must not be negative, got %d", c.MaxOpenUploadsPerUser))
	}
	if c.MaxOpenUploadBytesPerUser < 0 {
		errs = append(errs, config.Errorf("MaxOpenUploadBytesPerUser", "must not be negative, got %d", c.MaxOpenUploadBytesPerUser))
	}
	if c.StagedUploadTTL < 0 {
		errs = append(errs, config.Errorf("StagedUploadTTL", "must not be negative, got %v", c.StagedUploadTTL))
	}
	if c.ServeCacheTTL < 0 {
		errs = append(errs, config.Errorf("ServeCacheTTL", "must not be negative, got %v", c.ServeCacheTTL))
	}
	if c.DirectBaseURL != "" {
		if u, err := url.Parse(c.DirectBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Errorf("DirectBaseURL", "%q is not an absolute http(s) URL", c.DirectBaseURL))
		}
	}
	if c.Resumable.Expiry < 0 {
		errs = append(errs, config.Errorf("Resumable.Expiry", "must not be negative, got %v", c.Resumable.Expiry))
	}
	if c.Resumable.LockLease < 0 {
		errs = append(errs, config.Errorf("Resumable.LockLease", "must not be negative, got %v", c.Resumable.LockLease))
	}
	errs = append(errs, config.Within("Renditions", c.Renditions.Validate()))
	return errors.Join(errs...)
}

// Service is the media domain. It is safe for concurrent use.
type Service struct {
	db    *models.DB
	store *storage.Store
	cfg   Config
	log   *slog.Logger
	rend  *renditionEngine
	cache *imageCache
	paths sync.Map // collection id → path
	acl   PermissionSetter
	// proxyReason says why acl is nil, when it is.
	proxyReason string
	purger      purge.Purger
	publicURL   string // for purging serve views

	outdatedMu sync.Mutex // CountOutdated's shared answer
	outdatedAt time.Time
	outdatedN  int
	events     *events.Outbox
	webhooks   *events.Webhooks

	instance string      // this process, for leases on permission syncs
	eager    chan string // image ids waiting for their eager renditions

	hooks hookSlot // test-only pause points; empty in production
}

// Deps are the components a Service works with. DB and Store are required; the rest are optional.
type Deps struct {
	// DB is an open, migrated database.
	DB *models.DB
	// Store is the open bucket originals, documents and renditions are written to.
	Store *storage.Store
	// Logger receives the service's logs (nil: discarded).
	Logger *slog.Logger
	// Events is the outbox every change records its events in, and subscriptions read (nil:
	// changes record no events and subscriptions are refused).
	Events *events.Outbox
	// Webhooks sends events to webhook receivers (nil: the webhook calls are refused).
	Webhooks *events.Webhooks
	// ACL expresses privacy as storage permissions. Nil means proxy-only: every byte is served
	// through Veil's own permission-checked views, and there are no file permissions to keep in
	// step; ProxyReason says why, for /readyz and logs.
	ACL         PermissionSetter
	ProxyReason string
	// Purger is called after every privacy change to purge the CDN (nil: none). PublicURL is the
	// external base URL of Veil's serve views (VEIL_PUBLIC_URL), which the CDN caches them under.
	Purger    purge.Purger
	PublicURL string
}

// New returns a Service over deps.DB and deps.Store.
func New(cfg Config, deps Deps) *Service {
	db, store, log := deps.DB, deps.Store, deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Renditions.SigningKeys) == 0 {
		// Only tests get here: veil serve always configures keys from VEIL_SECRET.
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		cfg.Renditions.SigningKeys = [][]byte{key}
		log.Warn("no rendition signing key configured; using a random one for this process")
	}
	if cfg.Renditions.Options.Limits == (renditions.Limits{}) {
		cfg.Renditions.Options.Limits = cfg.Images
	}
	s := &Service{db: db, store: store, cfg: cfg, log: log, rend: newRenditionEngine(cfg.Renditions), cache: newImageCache(cfg.ServeCacheTTL, 10000), instance: newInstanceID(), eager: make(chan string, 1024),
		events: deps.Events, webhooks: deps.Webhooks, acl: deps.ACL, purger: deps.Purger, publicURL: strings.TrimRight(deps.PublicURL, "/")}
	if s.acl == nil {
		s.proxyReason = deps.ProxyReason
	}
	return s
}

// Config returns the service's limits.
func (s *Service) Config() Config { return s.cfg }

// Store returns the bucket the service writes to.
func (s *Service) Store() *storage.Store { return s.store }

func isUniqueViolation(err error) bool { return models.IsUniqueViolation(err) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// likePattern escapes s for a LIKE … ESCAPE '\' match of a substring.
func likePattern(s string) string { return "%" + models.EscapeLike(strings.ToLower(s)) + "%" }

// inTx runs fn in a transaction, and wakes the event relay after a commit (fn may have recorded
// events with s.record).
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if err := s.db.RunInTx(ctx, nil, fn); err != nil {
		return err
	}
	s.events.Notify()
	return nil
}

// forUpdate locks the selected rows until the transaction ends. On SQLite the transaction already
// holds the database's write lock (BEGIN IMMEDIATE), so no clause is needed.
func (s *Service) forUpdate(q *bun.SelectQuery) *bun.SelectQuery {
	if s.db.Dialect == models.Postgres {
		return q.For("UPDATE")
	}
	return q
}

// Events returns the outbox (nil when none is set).
func (s *Service) Events() *events.Outbox { return s.events }

// Bus returns the event bus (nil when there is no outbox).
func (s *Service) Bus() *events.Bus {
	if s.events == nil {
		return nil
	}
	return s.events.Bus()
}
