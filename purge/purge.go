// Package purge removes URLs from a CDN's cache when the privacy of the media behind them changes:
// HTTP PURGE per URL (Varnish, Fastly and others), a JSON webhook in batches, or a log line.
package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Purger removes URLs from a CDN's cache. Purge returns one Result per URL, in input order; it
// never stops at a failure.
type Purger interface {
	Purge(ctx context.Context, urls []string) []Result
	// Name identifies the purger in logs and metrics.
	Name() string
}

// Result is the outcome of purging one URL.
type Result struct {
	URL      string
	OK       bool
	Status   int    // HTTP status of the last try; 0 without a response
	Err      string // why it failed; "" when OK
	Duration time.Duration
}

// Options tune the HTTP purgers; zero values take the defaults.
type Options struct {
	Concurrency int           // PURGE requests in flight (default 16)
	Timeout     time.Duration // per request (default 5s)
	Retries     int           // extra tries after a 5xx, 429 or network error (default 2; negative: none)
	Backoff     time.Duration // before the first retry, doubling (default 200ms)
	BatchSize   int           // URLs per webhook POST (default 100)
	Client      *http.Client  // default: a client with no redirects
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
	}
	return o
}

// Open returns the purger described by spec (VEIL_CDN_PURGE):
//
//	""                       no purging (nil, nil)
//	"log"                    log each URL
//	"purge"                  HTTP PURGE each URL where it points
//	"purge:<http(s) url>"    HTTP PURGE each URL's path at this endpoint, with the URL's host as Host
//	"webhook:<http(s) url>"  POST {"urls": [...]} in batches; VEIL_CDN_PURGE_AUTH, if set, is sent
//	                         as the Authorization header
func Open(spec, auth string, opts Options, log *slog.Logger) (Purger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	switch {
	case spec == "":
		return nil, nil
	case spec == "log":
		return &Log{log: log}, nil
	case spec == "purge":
		return NewHTTPPurge(nil, opts), nil
	case kind == "purge" || kind == "webhook":
		u, err := endpoint(rest)
		if err != nil {
			return nil, fmt.Errorf("VEIL_CDN_PURGE: %s endpoint %q: %w", kind, rest, err)
		}
		if kind == "purge" {
			return NewHTTPPurge(u, opts), nil
		}
		return NewWebhook(u, auth, opts), nil
	}
	return nil, fmt.Errorf("VEIL_CDN_PURGE: %q: use log, purge, purge:<http(s) url> or webhook:<http(s) url>", spec)
}

func endpoint(raw string) (*url.URL, error) {
	if strings.ContainsAny(raw, " \t\r\n") {
		return nil, errors.New("contains white space")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must be an http:// or https:// URL")
	case u.Host == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not carry credentials (use VEIL_CDN_PURGE_AUTH)")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment")
	}
	return u, nil
}

// Log logs each URL it is asked to purge and reports success.
type Log struct{ log *slog.Logger }

// Name implements Purger.
func (l *Log) Name() string { return "log" }

// Purge implements Purger.
func (l *Log) Purge(ctx context.Context, urls []string) []Result {
	out := make([]Result, len(urls))
	for i, u := range urls {
		l.log.InfoContext(ctx, "cdn purge", "url", u)
		out[i] = Result{URL: u, OK: true}
	}
	return out
}

// HTTPPurge sends an HTTP PURGE request per URL, Varnish-style, with bounded concurrency.
type HTTPPurge struct {
	endpoint *url.URL // nil: each URL as it is
	opts     Options
}

// NewHTTPPurge returns a PURGE purger. With endpoint set, each URL's path and query are sent to the
// endpoint instead, with the URL's host in the Host header (purging https://cdn.example/x at the
// cache's own address http://varnish:6081/x).
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
		wg.Add(1)
		sem <- struct{}{}
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
	target, err := url.Parse(raw)
	if err != nil || target.Host == "" {
		res.Err = "not an absolute URL"
		return res
	}
	host := target.Host
	if p.endpoint != nil {
		t := *p.endpoint
		t.Path = strings.TrimRight(t.Path, "/") + target.Path
		t.RawPath = ""
		if target.RawPath != "" {
			t.RawPath = strings.TrimRight(p.endpoint.EscapedPath(), "/") + target.RawPath
		}
		t.RawQuery = target.RawQuery
		target = &t
	}
	res.Status, err = retry(ctx, p.opts, func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "PURGE", target.String(), nil)
		if err != nil {
			return 0, err
		}
		req.Host = host
		return send(p.opts.Client, req)
	}, func(status int) bool { return status < 300 || status == http.StatusNotFound })
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = err.Error()
	} else {
		res.OK = true
	}
	return res
}

// Webhook POSTs {"urls": [...]} to a URL in batches, for CDNs with a purge API behind a small
// adapter (Cloudflare, CloudFront invalidations, a queue).
type Webhook struct {
	url  *url.URL
	auth string
	opts Options
}

// NewWebhook returns a webhook purger; auth, if not empty, is sent as the Authorization header.
func NewWebhook(u *url.URL, auth string, opts Options) *Webhook {
	return &Webhook{url: u, auth: auth, opts: opts.withDefaults()}
}

// Name implements Purger.
func (w *Webhook) Name() string { return "webhook" }

// Purge implements Purger: each batch's URLs share the batch's outcome.
func (w *Webhook) Purge(ctx context.Context, urls []string) []Result {
	out := make([]Result, 0, len(urls))
	for start := 0; start < len(urls); start += w.opts.BatchSize {
		batch := urls[start:min(start+w.opts.BatchSize, len(urls))]
		began := time.Now()
		body, _ := json.Marshal(struct {
			URLs []string `json:"urls"`
		}{batch})
		status, err := retry(ctx, w.opts, func(ctx context.Context) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
			if err != nil {
				return 0, err
			}
			req.Header.Set("Content-Type", "application/json")
			if w.auth != "" {
				req.Header.Set("Authorization", w.auth)
			}
			return send(w.opts.Client, req)
		}, func(status int) bool { return status >= 200 && status < 300 })
		for _, u := range batch {
			r := Result{URL: u, Status: status, Duration: time.Since(began), OK: err == nil}
			if err != nil {
				r.Err = err.Error()
			}
			out = append(out, r)
		}
	}
	return out
}

// send makes one request and drains the (small) answer so the connection is reused.
func send(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// retry calls try until ok accepts its status, retrying network errors and 5xx/429 answers with
// exponential backoff; other statuses fail at once.
func retry(ctx context.Context, o Options, try func(context.Context) (int, error), ok func(int) bool) (int, error) {
	var status int
	var err error
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		status, err = try(cctx)
		cancel()
		if err == nil && ok(status) {
			return status, nil
		}
		if err == nil {
			err = fmt.Errorf("answered %d", status)
			if status < 500 && status != http.StatusTooManyRequests {
				return status, err
			}
		}
		if attempt >= o.Retries {
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, err
		case <-time.After(o.Backoff << attempt):
		}
	}
}
