package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
)

// WebhookConfig governs webhook deliveries.
type WebhookConfig struct {
	// AllowPrivate lets webhook URLs resolve to loopback, link-local and private addresses
	// (VEIL_WEBHOOK_ALLOW_PRIVATE, default false: refused when created and when dialled).
	AllowPrivate bool
	// FirstBackoff is the wait after a first failure (default 10s); each further failure doubles
	// it up to MaxBackoff (default 1h). An event keeps being retried for RetryFor (default 25h)
	// after its first failure; then it is recorded as abandoned and the next one is sent.
	FirstBackoff, MaxBackoff, RetryFor time.Duration
	// Timeout bounds one delivery (default 10s).
	Timeout time.Duration
	// Interval is how often due deliveries are looked for (default 1s).
	Interval time.Duration
	// Clock tells the time (tests inject one); nil is time.Now.
	Clock func() time.Time
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.FirstBackoff <= 0 {
		c.FirstBackoff = 10 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 25 * time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Webhooks sends recorded events to webhook receivers: each webhook gets its events in cursor
// order, at least once, signed; a failing receiver holds only its own webhook back. Only the
// instance holding the relay lease delivers, so each attempt is made once in a cluster.
type Webhooks struct {
	o      *Outbox
	cfg    WebhookConfig
	log    *slog.Logger
	client *http.Client
}

// NewWebhooks returns the webhook sender over the outbox's database.
func NewWebhooks(o *Outbox, cfg WebhookConfig, log *slog.Logger) *Webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	w := &Webhooks{o: o, cfg: cfg, log: log}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: func(_, address string, _ syscall.RawConn) error {
		// At dial time, on the address actually dialled: a name that resolved to a public address
		// when the webhook was created and resolves to a private one now (DNS rebinding) is refused.
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		return w.checkAddr(ip)
	}}
	w.client = &http.Client{
		Timeout:       cfg.Timeout,
		Transport:     &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return w
}

// ErrPrivateAddress is why a webhook URL was refused: it resolves to a loopback, link-local or
// private address and VEIL_WEBHOOK_ALLOW_PRIVATE is not set.
var ErrPrivateAddress = errors.New("webhook address is loopback, link-local or private (VEIL_WEBHOOK_ALLOW_PRIVATE=true allows it)")

var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT, RFC 6598

func (w *Webhooks) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if w.cfg.AllowPrivate {
		return nil
	}
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsPrivate() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || sharedAddressSpace.Contains(ip) {
		return fmt.Errorf("%s: %w", ip, ErrPrivateAddress)
	}
	return nil
}

// checkURL validates a webhook URL and every address its host resolves to now.
func (w *Webhooks) checkURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > 2048:
		return &QueryError{Field: "url", Reason: "longer than 2048 characters"}
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return &QueryError{Field: "url", Reason: "not an absolute http(s) URL"}
	case u.User != nil:
		return &QueryError{Field: "url", Reason: "must not carry credentials (the signature authenticates Veil)"}
	case u.Fragment != "":
		return &QueryError{Field: "url", Reason: "must not have a fragment"}
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return &QueryError{Field: "url", Reason: fmt.Sprintf("host %q does not resolve", host)}
		}
		addrs = ips
	}
	for _, ip := range addrs {
		if err := w.checkAddr(ip); err != nil {
			return &QueryError{Field: "url", Reason: err.Error()}
		}
	}
	return nil
}

// Create registers a webhook for kinds (none: every kind) that starts with the next event.
func (w *Webhooks) Create(ctx context.Context, rawURL string, kinds []Kind, secret, actor string) (*models.Webhook, error) {
	if err := w.checkURL(ctx, rawURL); err != nil {
		return nil, err
	}
	if n := len(secret); n < 16 || n > 256 {
		return nil, &QueryError{Field: "secret", Reason: "must be 16 to 256 characters"}
	}
	names := make([]string, 0, len(kinds))
	seen := map[Kind]bool{}
	for _, k := range kinds {
		if !k.Valid() {
			return nil, &QueryError{Field: "events", Reason: fmt.Sprintf("%.40q is not an event type", k)}
		}
		if !seen[k] {
			seen[k] = true
			names = append(names, string(k))
		}
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	h := &models.Webhook{ID: "whk_" + hex.EncodeToString(b[:]), URL: rawURL, Kinds: strings.Join(names, ","), Secret: secret,
		CreatedAt: w.cfg.Clock().UTC(), CreatedBy: actor}
	if err := w.o.db.NewRaw("SELECT COALESCE(MAX(seq), 0) FROM events").Scan(ctx, &h.Cursor); err != nil {
		return nil, fmt.Errorf("events: create webhook: %w", err)
	}
	if _, err := w.o.db.NewInsert().Model(h).Exec(ctx); err != nil {
		return nil, fmt.Errorf("events: create webhook: %w", err)
	}
	return h, nil
}

// List returns every webhook, oldest first.
func (w *Webhooks) List(ctx context.Context) ([]*models.Webhook, error) {
	var hs []*models.Webhook
	if err := w.o.db.NewSelect().Model(&hs).Order("created_at", "id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("events: list webhooks: %w", err)
	}
	return hs, nil
}

// Delete removes a webhook and its delivery record; it reports whether one existed.
func (w *Webhooks) Delete(ctx context.Context, id string) (bool, error) {
	var n int64
	err := w.o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Model((*models.WebhookDelivery)(nil)).Where("webhook_id = ?", id).Exec(ctx); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*models.Webhook)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("events: delete webhook: %w", err)
	}
	return n > 0, nil
}

// Deliveries returns the last first attempts of a webhook, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, id string, first int) ([]*models.WebhookDelivery, error) {
	if first < 1 || first > MaxAuditPage {
		return nil, &QueryError{Field: "first", Reason: fmt.Sprintf("must be from 1 to %d", MaxAuditPage)}
	}
	var ds []*models.WebhookDelivery
	if err := w.o.db.NewSelect().Model(&ds).Where("webhook_id = ?", id).Order("id DESC").Limit(first).Scan(ctx); err != nil {
		return nil, fmt.Errorf("events: webhook deliveries: %w", err)
	}
	return ds, nil
}

// Run delivers due events until ctx ends. The caller owns it.
func (w *Webhooks) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := w.DeliverOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("webhooks", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverOnce makes the due attempts of every webhook, when this instance holds the relay lease:
// each webhook is sent its delivered events after its cursor, in order, until one fails (then
// it waits for its backoff) or none is left. It returns how many attempts it made.
func (w *Webhooks) DeliverOnce(ctx context.Context) (int, error) {
	w.o.mu.Lock()
	held, err := w.o.holdLease(ctx)
	w.o.mu.Unlock()
	if err != nil || !held {
		return 0, err
	}
	hs, err := w.List(ctx)
	if err != nil {
		return 0, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		first error
	)
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := w.deliverTo(ctx, h)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return total, first
}

// deliverTo sends h its due events.
func (w *Webhooks) deliverTo(ctx context.Context, h *models.Webhook) (int, error) {
	now := w.cfg.Clock().UTC()
	if h.NextAttemptAt != nil && now.Before(*h.NextAttemptAt) {
		return 0, nil
	}
	kinds := map[string]bool{}
	for _, k := range strings.Split(h.Kinds, ",") {
		if k != "" {
			kinds[k] = true
		}
	}
	attempts := 0
	for {
		var rows []models.EventRow
		if err := w.o.db.NewSelect().Model(&rows).Column("seq", "kind", "body").
			Where("seq > ? AND sent_at IS NOT NULL", h.Cursor).Order("seq").Limit(100).Scan(ctx); err != nil {
			return attempts, fmt.Errorf("events: webhook %s: %w", h.ID, err)
		}
		if len(rows) == 0 {
			return attempts, nil
		}
		for _, r := range rows {
			if len(kinds) > 0 && !kinds[r.Kind] {
				h.Cursor = *r.Seq
				continue
			}
			attempts++
			ok, err := w.attempt(ctx, h, r)
			if err != nil {
				return attempts, err
			}
			if !ok {
				return attempts, nil
			}
		}
		if _, err := w.o.db.NewUpdate().Model(h).Column("delivered_seq").WherePK().Exec(ctx); err != nil {
			return attempts, fmt.Errorf("events: webhook %s: %w", h.ID, err)
		}
	}
}

// attempt sends one event and records the attempt and the webhook's new state. It reports
// whether the webhook may go on to the next event.
func (w *Webhooks) attempt(ctx context.Context, h *models.Webhook, r models.EventRow) (bool, error) {
	var ev Event
	if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
		return false, fmt.Errorf("events: webhook: event %d unreadable: %w", *r.Seq, err)
	}
	ev.Seq = *r.Seq
	body, _ := json.Marshal(struct {
		Cursor string `json:"cursor"`
		Event
	}{ev.Cursor(), ev})
	now := w.cfg.Clock().UTC()
	ts := strconv.FormatInt(now.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("events: webhook %s: %w", h.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Veil-Webhook")
	req.Header.Set("Veil-Event-Id", ev.Cursor())
	req.Header.Set("Veil-Event-Type", string(ev.Kind))
	req.Header.Set("Veil-Signature", "t="+ts+",v1="+Sign(h.Secret, ts, body))
	d := &models.WebhookDelivery{WebhookID: h.ID, Seq: ev.Seq, Kind: string(ev.Kind), Attempt: h.Attempts + 1, At: now}
	start := time.Now()
	resp, err := w.client.Do(req)
	d.DurationMS = time.Since(start).Milliseconds()
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		d.Status = resp.StatusCode
		d.OK = resp.StatusCode >= 200 && resp.StatusCode < 300
		if !d.OK {
			d.Error = "HTTP " + resp.Status
		}
	} else {
		d.Error = err.Error()
	}
	next := true
	switch {
	case d.OK:
		h.Cursor, h.Attempts, h.FailingSince, h.NextAttemptAt = ev.Seq, 0, nil, nil
	default:
		if h.FailingSince == nil {
			h.FailingSince = &now
		}
		h.Attempts++
		if now.Sub(*h.FailingSince) >= w.cfg.RetryFor {
			d.Error += fmt.Sprintf("; abandoned after %d attempts over %s", h.Attempts, now.Sub(*h.FailingSince).Round(time.Second))
			w.log.Warn("webhook event abandoned", "webhook_id", h.ID, "seq", ev.Seq, "attempts", h.Attempts)
			h.Cursor, h.Attempts, h.FailingSince, h.NextAttemptAt = ev.Seq, 0, nil, nil
		} else {
			wait := w.cfg.FirstBackoff << min(h.Attempts-1, 30)
			if wait > w.cfg.MaxBackoff || wait <= 0 {
				wait = w.cfg.MaxBackoff
			}
			at := now.Add(wait)
			h.NextAttemptAt = &at
			next = false
		}
	}
	err = w.o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(d).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Model(h).Column("delivered_seq", "attempts", "failing_since", "next_attempt_at").WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("events: webhook %s: record attempt: %w", h.ID, err)
	}
	return next, nil
}

// Sign returns the v1 signature of a delivery: hex HMAC-SHA256, keyed with the webhook's secret,
// of the timestamp, a dot and the body.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
