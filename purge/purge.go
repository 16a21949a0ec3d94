package purge

import (
	"github.com/veil-media/veil/config"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Purger removes URLs from a CDN's cache.
//
// Purge returns exactly one Result per URL, in input order, and never stops at a failure: every URL
// is tried. It does not return an error of its own; a URL that could not be purged says why in its
// Result. When ctx ends, URLs not yet tried fail at once.
type Purger interface {
	Purge(ctx context.Context, urls []string) []Result
	// Name identifies the driver in logs and metrics: "http-purge", "webhook" or "log".
	Name() string
}

// Result is the outcome of purging one URL.
type Result struct {
	URL      string
	OK       bool
	Status   int           // HTTP status of the last try; 0 when there was no answer
	Err      string        // why it failed; "" when OK
	Duration time.Duration // from the first try to the last answer, retries and backoff included
}

// Options tune the HTTP drivers; zero values take the defaults.
type Options struct {
	// Concurrency caps the PURGE requests in flight at once (default 16).
	Concurrency int
	// Timeout bounds each request, each retry on its own (default 5s).
	Timeout time.Duration
	// Retries is how many times a request is tried again after a network error, a timeout, a 5xx
	// or a 429 (default 2; negative: never). Other statuses fail at once.
	Retries int
	// Backoff is the wait before the first retry; it doubles for each further one (default 200ms).
	Backoff time.Duration
	// BatchSize caps the URLs in one webhook POST (default 100).
	BatchSize int
	// Client sends the requests (default: a client that does not follow redirects and keeps
	// Concurrency connections per host alive).
	Client *http.Client
	// Redact, when set, rewrites a URL before the log driver logs it (Veil masks the signature of
	// rendition URLs: signed URLs are capabilities and stay out of logs).
	Redact func(string) string
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t = t.Clone()
			t.MaxIdleConnsPerHost = o.Concurrency // one PURGE burst goes to one cache
			o.Client.Transport = t
		}
	}
	return o
}

// Open returns the purger that spec (the VEIL_CDN_PURGE setting) describes:
//
//	""                       no purging: nil, nil
//	"log"                    log each URL at Info; always OK
//	"purge"                  HTTP PURGE each URL where it points
//	"purge:<http(s) url>"    HTTP PURGE each URL's path and query at this endpoint, with the URL's
//	                         host in the Host header (https://cdn.example/x is purged at
//	                         http://varnish:6081/x, Host: cdn.example); a path on the endpoint is
//	                         prefixed
//	"webhook:<http(s) url>"  POST {"urls": [...]} to this URL in batches of opts.BatchSize
//
// auth, when not empty, is sent as the webhook's Authorization header (VEIL_CDN_PURGE_AUTH); the
// other drivers ignore it. Endpoints must be http or https URLs with a host and no credentials,
// and a purge endpoint has no query. A spec with white space anywhere is refused rather than
// trimmed. Errors are a *config.FieldError on "CDNPurge" naming the part that is wrong, with any
// password hidden.
func Open(spec, auth string, opts Options, log *slog.Logger) (Purger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if spec == "" {
		return nil, nil
	}
	if strings.IndexFunc(spec, unicode.IsSpace) >= 0 {
		return nil, config.Errorf("CDNPurge", "%q: contains white space", redact(spec))
	}
	kind, rest, hasEndpoint := strings.Cut(spec, ":")
	switch {
	case spec == "log":
		return &Log{log: log, redact: opts.Redact}, nil
	case spec == "purge":
		return NewHTTPPurge(nil, opts), nil
	case hasEndpoint && (kind == "purge" || kind == "webhook"):
		u, err := endpoint(rest, kind == "webhook")
		if err != nil {
			return nil, config.Errorf("CDNPurge", "%s endpoint %q: %v", kind, redact(rest), err)
		}
		if kind == "purge" {
			return NewHTTPPurge(u, opts), nil
		}
		return NewWebhook(u, auth, opts), nil
	}
	return nil, config.Errorf("CDNPurge", "%q: use log, purge, purge:<http(s) url> or webhook:<http(s) url>", redact(spec))
}

// endpoint parses and checks a configured endpoint URL.
func endpoint(raw string, queryAllowed bool) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		return nil, errors.New("must be an http:// or https:// URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message repeats the URL, password included
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must be an http:// or https:// URL")
	case u.Hostname() == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not carry credentials (use VEIL_CDN_PURGE_AUTH)")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment")
	case !queryAllowed && (u.RawQuery != "" || u.ForceQuery):
		return nil, errors.New("must not have a query (each purged URL's own query is sent)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %s is out of range", p)
		}
	}
	return u, nil
}

// redact hides the user information of the first URL in s, which need not parse.
func redact(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return s[:i+3] + "xxxxx" + rest[at:]
	}
	return s
}

// Log logs each URL it is asked to purge, at Info, and reports success; it purges nothing.
type Log struct {
	log    *slog.Logger
	redact func(string) string
}

// NewLog returns a Log purger writing to log (nil: nowhere).
func NewLog(log *slog.Logger) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{log: log}
}

// Name implements Purger.
func (l *Log) Name() string { return "log" }

// Purge implements Purger.
func (l *Log) Purge(ctx context.Context, urls []string) []Result {
	out := make([]Result, len(urls))
	for i, u := range urls {
		shown := u
		if l.redact != nil {
			shown = l.redact(u)
		}
		l.log.InfoContext(ctx, "cdn purge", "url", shown)
		out[i] = Result{URL: u, OK: true}
	}
	return out
}

// HTTPPurge sends an HTTP PURGE request per URL, Varnish- and Fastly-style, at most
// Options.Concurrency at once. 2xx answers and 404 (nothing was cached) count as purged.
type HTTPPurge struct {
	endpoint *url.URL // nil: each URL where it points
	opts     Options
}

// NewHTTPPurge returns a PURGE purger. With endpoint nil each URL is purged where it points. With
// endpoint set, each URL's path and query are sent to the endpoint instead (after the endpoint's
// own path, if any), with the URL's host in the Host header, so https://cdn.example/x is purged at
// the cache's own address http://varnish:6081/x.
func NewHTTPPurge(endpoint *url.URL, opts Options) *HTTPPurge {
	return &HTTPPurge{endpoint: endpoint, opts: opts.withDefaults()}
}

// Name implements Purger.
func (p *HTTPPurge) Name() string { return "http-purge" }

// Purge implements Purger.
func (p *HTTPPurge) Purge(ctx context.Context, urls []string) []Result {
	out := make([]Result, len(urls))
	sem := make(chan struct{}, p.opts.Concurrency)
	var wg sync.WaitGroup
	for i, raw := range urls {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i] = Result{URL: raw, Err: "not tried: " + ctx.Err().Error()}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = p.one(ctx, raw)
		}()
	}
	wg.Wait()
	return out
}

func (p *HTTPPurge) one(ctx context.Context, raw string) Result {
	start := time.Now()
	res := Result{URL: raw}
	target, host, err := p.target(raw)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Status, err = retry(ctx, p.opts, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, "PURGE", target, nil)
		if err == nil {
			req.Host = host
		}
		return req, err
	}, func(status int) bool { return status >= 200 && status < 300 || status == http.StatusNotFound })
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = err.Error()
	} else {
		res.OK = true
	}
	return res
}

// target returns where to send the PURGE for raw and the Host header to send with it: the host a
// browser sends for raw (lower case, without the scheme's default port), which is what a cache
// keys on.
func (p *HTTPPurge) target(raw string) (target, host string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", "", errors.New("not an absolute http(s) URL")
	}
	host = strings.ToLower(u.Host)
	if port := u.Port(); port == "80" && u.Scheme == "http" || port == "443" && u.Scheme == "https" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	if p.endpoint == nil {
		return raw, host, nil
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	target = p.endpoint.Scheme + "://" + p.endpoint.Host + strings.TrimRight(p.endpoint.EscapedPath(), "/") + path
	if u.RawQuery != "" || u.ForceQuery {
		target += "?" + u.RawQuery
	}
	return target, host, nil
}

// Webhook POSTs {"urls": [...]} to a URL in batches of Options.BatchSize, one batch after the
// other, for CDNs whose purge API sits behind a small adapter (Cloudflare, CloudFront
// invalidations, a queue). A 2xx answer purges the whole batch; every URL of a batch shares its
// outcome.
type Webhook struct {
	url  *url.URL
	auth string
	opts Options
}

// NewWebhook returns a webhook purger posting to u; auth, if not empty, is sent as the
// Authorization header.
func NewWebhook(u *url.URL, auth string, opts Options) *Webhook {
	return &Webhook{url: u, auth: auth, opts: opts.withDefaults()}
}

// Name implements Purger.
func (w *Webhook) Name() string { return "webhook" }

// Purge implements Purger.
func (w *Webhook) Purge(ctx context.Context, urls []string) []Result {
	out := make([]Result, 0, len(urls))
	for start := 0; start < len(urls); start += w.opts.BatchSize {
		batch := urls[start:min(start+w.opts.BatchSize, len(urls))]
		began := time.Now()
		body, err := webhookBody(batch)
		status := 0
		if err == nil {
			status, err = retry(ctx, w.opts, func(ctx context.Context) (*http.Request, error) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
				if err != nil {
					return nil, err
				}
				req.Header.Set("Content-Type", "application/json")
				if w.auth != "" {
					req.Header.Set("Authorization", w.auth)
				}
				return req, nil
			}, func(status int) bool { return status >= 200 && status < 300 })
		}
		took := time.Since(began)
		for _, u := range batch {
			r := Result{URL: u, OK: err == nil, Status: status, Duration: took}
			if err != nil {
				r.Err = err.Error()
			}
			out = append(out, r)
		}
	}
	return out
}

// webhookBody is {"urls":[...]}, with & < > left as they are.
func webhookBody(urls []string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		URLs []string `json:"urls"`
	}{urls}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// retry sends the request newReq builds until ok accepts the answer's status. Network errors,
// timeouts, 5xx and 429 are tried again, up to o.Retries times with doubling backoff; other
// statuses fail at once. It returns the last status (0 without an answer).
func retry(ctx context.Context, o Options, newReq func(context.Context) (*http.Request, error), ok func(int) bool) (int, error) {
	for attempt := 0; ; attempt++ {
		status, err := send(ctx, o, newReq)
		if err == nil && ok(status) {
			return status, nil
		}
		retryable := err != nil || status >= 500 || status == http.StatusTooManyRequests
		if err == nil {
			err = fmt.Errorf("answered %d %s", status, http.StatusText(status))
		}
		if attempt > 0 {
			err = fmt.Errorf("%w (after %d tries)", err, attempt+1)
		}
		if !retryable || attempt >= o.Retries {
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, err
		case <-time.After(o.Backoff << attempt):
		}
	}
}

// send makes one request within o.Timeout and drains the (small) answer so the connection is
// reused.
func send(ctx context.Context, o Options, newReq func(context.Context) (*http.Request, error)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := newReq(ctx)
	if err != nil {
		return 0, err
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
