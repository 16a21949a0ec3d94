package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"
	"golang.org/x/sync/singleflight"

	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/models"
)

// Errors callers translate (GraphQL codes, HTTP statuses): Veil's one vocabulary, package fault.
var (
	// ErrUnauthenticated: credentials were presented but are bad, expired or revoked. A request
	// with bad credentials is refused, never treated as anonymous.
	ErrUnauthenticated = fault.ErrUnauthenticated
	// ErrForbidden: a known viewer lacks a permission on something they may know exists.
	ErrForbidden = fault.ErrForbidden
	// ErrNotFound: the id names nothing the viewer may see.
	ErrNotFound = fault.ErrNotFound
)

// InputError is a client mistake in one argument.
type InputError = fault.InputError

func inputErr(field, format string, args ...any) error { return fault.Inputf(field, format, args...) }

// Config governs authentication.
type Config struct {
	// CacheTTL is how long a token's resolved viewer is reused (VEIL_AUTH_CACHE_TTL, default 2s;
	// 0 disables). Changes made through this process clear the cache at once.
	CacheTTL time.Duration
	// PreviewKeys sign (the first) and verify (all) preview tokens.
	PreviewKeys [][]byte
	// MaxPreviewTTL caps a preview token's lifetime (VEIL_MAX_PREVIEW_TTL, default 24h).
	MaxPreviewTTL time.Duration
	// FailuresPerMinute is how many failed authentications may be made per minute against one
	// token id (or, for malformed credentials, from one client address) before further failing
	// attempts are refused with 429 (VEIL_AUTH_FAILURES_PER_MINUTE, default 20). A valid token is
	// never refused because of it. See AuthenticateFrom.
	FailuresPerMinute int
	// BootstrapToken, when set (VEIL_BOOTSTRAP_TOKEN), is an admin API token chosen by the
	// operator, any string of at least 32 printable ASCII characters: Bootstrap creates the first
	// admin with it instead of printing a generated one, so a test script knows it in advance.
	// It is stored like any token (a hash, revocable) under an id derived from it.
	BootstrapToken string
	// Clock, when set, replaces time.Now for token expiry, the viewer cache and the failure
	// limiter (tests move it instead of sleeping).
	Clock func() time.Time
}

// DefaultConfig returns the defaults; PreviewKeys must still be set.
func DefaultConfig() Config {
	return Config{CacheTTL: 2 * time.Second, MaxPreviewTTL: 24 * time.Hour, FailuresPerMinute: 20}
}

// Validate names the offending setting.
func (c Config) Validate() error {
	var errs []error
	if c.CacheTTL < 0 {
		errs = append(errs, config.Errorf("CacheTTL", "%v is negative", c.CacheTTL))
	}
	if c.MaxPreviewTTL <= 0 {
		errs = append(errs, config.Errorf("MaxPreviewTTL", "%v is not positive", c.MaxPreviewTTL))
	}
	if c.FailuresPerMinute < 1 {
		errs = append(errs, config.Errorf("FailuresPerMinute", "%d is less than 1", c.FailuresPerMinute))
	}
	if c.BootstrapToken != "" && !validBootstrapToken(c.BootstrapToken) {
		errs = append(errs, config.Errorf("BootstrapToken", "needs 32 to 200 printable ASCII characters without spaces"))
	}
	return errors.Join(errs...)
}

// Service authenticates requests and manages identities. It is safe for concurrent use.
type Service struct {
	db      *models.DB
	cfg     Config
	log     *slog.Logger
	Limiter *Limiter

	mu     sync.Mutex
	cache  map[string]cachedToken // token id → resolved viewer
	users  map[string]cachedUser  // user id → viewer of a preview token's creator
	flight singleflight.Group
	// gen counts the changes to users, groups, grants and tokens made through this process, so
	// long-lived sessions notice them at once (see Session).
	gen atomic.Uint64

	events *events.Outbox // records identity events; nil records none
}

// UseEvents sets the outbox that user, group, grant and token changes are recorded in, each in
// the transaction of its change.
func (s *Service) UseEvents(o *events.Outbox) { s.events = o }

// change runs fn and records ev (stamped with the viewer of ctx) in one transaction.
func (s *Service) change(ctx context.Context, ev events.Event, fn func(context.Context, bun.IDB) error) error {
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if v := ViewerFrom(ctx); v != nil {
			ev.Actor, ev.TokenID = v.UserID, v.TokenID
		}
		return s.events.Append(ctx, tx, ev)
	})
	if err == nil {
		s.events.Notify()
	}
	return err
}

type cachedUser struct {
	viewer *Viewer // nil: no such active user
	until  time.Time
}

type cachedToken struct {
	hash      []byte
	expiresAt *time.Time
	viewer    *Viewer
	until     time.Time
	lastUsed  time.Time
}

// New returns a Service.
func New(db *models.DB, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.PreviewKeys) == 0 {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		cfg.PreviewKeys = [][]byte{k} // tests only: veil serve derives keys from VEIL_SECRET
	}
	if cfg.FailuresPerMinute == 0 {
		cfg.FailuresPerMinute = 20
	}
	if cfg.MaxPreviewTTL == 0 {
		cfg.MaxPreviewTTL = 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	l := NewLimiter(cfg.FailuresPerMinute, time.Minute)
	l.now = cfg.Clock
	return &Service{db: db, cfg: cfg, log: log, cache: map[string]cachedToken{}, users: map[string]cachedUser{}, Limiter: l}
}

func (s *Service) now() time.Time { return s.cfg.Clock() }

// invalidate forgets every cached viewer: called after any change to users, groups, grants or tokens.
func (s *Service) invalidate() {
	s.mu.Lock()
	s.cache = map[string]cachedToken{}
	s.users = map[string]cachedUser{}
	s.gen.Add(1)
	s.mu.Unlock()
}

// Authenticate resolves the Authorization header value of a request. No header is the anonymous
// viewer; anything else must be "Bearer <valid token>" or the result is ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, header string) (*Viewer, error) {
	return s.authenticate(ctx, header, s.cfg.CacheTTL)
}

// authenticate is Authenticate accepting a cached viewer only when it was read from the database
// less than maxAge ago.
func (s *Service) authenticate(ctx context.Context, header string, maxAge time.Duration) (*Viewer, error) {
	if header == "" {
		return Anonymous, nil
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, fault.Unauthenticatedf("use Authorization: Bearer <token>")
	}
	tok = strings.TrimSpace(tok)
	id, secret, ok := parseToken(tok)
	if !ok && s.cfg.BootstrapToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.BootstrapToken)) == 1 {
		id, secret, ok = bootstrapTokenID(tok), tok, true
	}
	if !ok {
		return nil, fault.Unauthenticatedf("malformed token")
	}
	now := s.now()
	s.mu.Lock()
	c, hit := s.cache[id]
	s.mu.Unlock()
	if hit && now.Before(c.until) && now.Sub(c.viewer.resolved) < maxAge {
		if !secretMatches(secret, c.hash) {
			return nil, fault.Unauthenticatedf("invalid token")
		}
		if c.expiresAt != nil && !now.Before(*c.expiresAt) {
			return nil, fault.Unauthenticatedf("token expired")
		}
		return c.viewer, nil
	}
	// Concurrent misses with the same credentials (a thousand connections of one token
	// re-checking at once) share one load: same inputs, same answer.
	res, err, _ := s.flight.Do(id+"\x00"+secret, func() (any, error) {
		return s.authenticateDB(context.WithoutCancel(ctx), id, secret, now)
	})
	if err != nil {
		return nil, err
	}
	return res.(*Viewer), nil
}

// authenticateDB resolves a token whose viewer is not cached.
func (s *Service) authenticateDB(ctx context.Context, id, secret string, now time.Time) (*Viewer, error) {
	var row struct {
		models.Token `bun:",extend"`
		UserName     string `bun:"user_name"`
		Admin        bool   `bun:"is_admin"`
		Active       bool   `bun:"active"`
	}
	err := s.db.Select(ctx, s.db.NewSelect().Model(&row).
		ColumnExpr("t.*, u.name AS user_name, u.is_admin, u.active").
		Join("JOIN users AS u ON u.id = t.user_id").
		Where("t.id = ?", id))
	// The same work and the same answer for an unknown id as for a wrong secret.
	if errors.Is(err, sql.ErrNoRows) {
		secretMatches(secret, make([]byte, 32))
		return nil, fault.Unauthenticatedf("invalid token")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load token: %w", err)
	}
	switch {
	case !secretMatches(secret, row.SecretHash):
		return nil, fault.Unauthenticatedf("invalid token")
	case row.RevokedAt != nil:
		return nil, fault.Unauthenticatedf("token revoked")
	case row.ExpiresAt != nil && !now.Before(*row.ExpiresAt):
		return nil, fault.Unauthenticatedf("token expired")
	case !row.Active:
		return nil, fault.Unauthenticatedf("user is deactivated")
	}
	v, err := s.loadViewer(ctx, row.UserID, row.UserName, row.Admin)
	if err != nil {
		return nil, err
	}
	v.TokenID = id
	v.expiresAt = row.ExpiresAt
	v.resolved = now
	// Record use at most once a minute per token: a write per request would be the bottleneck.
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) > time.Minute {
		t := models.Now()
		if _, err := s.db.NewUpdate().Model((*models.Token)(nil)).Set("last_used_at = ?", t).Where("id = ?", id).Exec(ctx); err != nil {
			s.log.WarnContext(ctx, "could not record token use", "token_id", id, "err", err)
		}
	}
	if s.cfg.CacheTTL > 0 {
		s.mu.Lock()
		if len(s.cache) > 10000 {
			s.cache = map[string]cachedToken{}
		}
		s.cache[id] = cachedToken{hash: row.SecretHash, expiresAt: row.ExpiresAt, viewer: v, until: now.Add(s.cfg.CacheTTL)}
		s.mu.Unlock()
	}
	return v, nil
}

// loadViewer resolves a user's permissions from their groups' grants, in one query.
func (s *Service) loadViewer(ctx context.Context, userID, name string, admin bool) (*Viewer, error) {
	v := &Viewer{UserID: userID, Name: name, Admin: admin, global: map[models.Permission]bool{}, collections: map[models.Permission][]string{}}
	var grants []models.Grant
	err := s.db.Select(ctx, s.db.NewSelect().Model(&grants).
		Join("JOIN group_members AS m ON m.group_id = g.group_id").
		Where("m.user_id = ?", userID))
	if err != nil {
		return nil, fmt.Errorf("auth: load grants: %w", err)
	}
	for _, g := range grants {
		if g.Permission.Global() {
			v.global[g.Permission] = true
		} else {
			v.collections[g.Permission] = append(v.collections[g.Permission], g.CollectionID)
		}
	}
	return v, nil
}

func isUniqueViolation(err error) bool { return models.IsUniqueViolation(err) }

func newID(prefix string) string { return prefix + "_" + ulid.Make().String() }

func checkID(field, id, prefix string) error {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return inputErr(field, "%q is not a %s id", truncate(id), prefix)
	}
	if _, err := ulid.ParseStrict(rest); err != nil {
		return inputErr(field, "%q is not a %s id", truncate(id), prefix)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func cleanName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", inputErr(field, "must not be empty")
	case len(s) > 200 || !utf8.ValidString(s):
		return "", inputErr(field, "must be valid UTF-8 of at most 200 bytes")
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", inputErr(field, "must not contain control characters")
	}
	return s, nil
}

func cleanEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", inputErr("email", "%q is not an email address", truncate(s))
	}
	return s, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("auth: %s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("auth: load %s: %w", what, err)
}

func (s *Service) inTx(ctx context.Context, fn func(context.Context, bun.Tx) error) error {
	return s.db.RunInTx(ctx, nil, fn)
}
