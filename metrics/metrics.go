// Package metrics holds Veil's Prometheus metrics. The media, purge and server packages record into
// them; the server exposes them at /metrics. Every metric is registered on Registry, not on the
// global default, so tests can read exactly Veil's series.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds Veil's metrics and the Go runtime and process collectors.
var Registry = prometheus.NewRegistry()

var (
	// PermissionCalls counts storage permission calls by driver and outcome (ok, error, not_found).
	PermissionCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "veil_permission_calls_total",
		Help: "Storage permission calls by driver and outcome (ok, error, not_found); retries within a call count once per try.",
	}, []string{"driver", "outcome"})

	// PermissionQueue is how many file permission jobs wait for a worker, over all running syncs.
	PermissionQueue = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "veil_permission_queue_depth",
		Help: "File permission jobs waiting for a worker of the sync pool.",
	})

	// PurgeCalls counts CDN purge outcomes per URL by purger and outcome (ok, error).
	PurgeCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "veil_purge_calls_total",
		Help: "CDN purges by purger and outcome, one per URL.",
	}, []string{"purger", "outcome"})

	// EventLag is the delay from an event's time (the commit or the storage call it reports) to its
	// hand-over to a subscriber's transport.
	EventLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "veil_event_lag_seconds",
		Help:    "Delay from an event (commit or storage call) to its hand-over to a subscriber's transport.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})

	// EventsDropped counts subscribers dropped for falling behind.
	EventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "veil_event_subscribers_dropped_total",
		Help: "Subscribers dropped because they fell too far behind the events.",
	})
)

func init() {
	Registry.MustRegister(PermissionCalls, PermissionQueue, PurgeCalls, EventLag, EventsDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Gauges are values read when Prometheus scrapes.
type Gauges struct {
	// Subscriptions returns the number of open event subscriptions.
	Subscriptions func() int
	// Outdated returns the number of items whose file permissions may not match their privacy
	// (the caller bounds how often it really counts).
	Outdated func(context.Context) (int, error)
}

// Handler serves the metrics, reading the gauges in g at each scrape.
func Handler(g Gauges) http.Handler {
	reg := prometheus.NewRegistry()
	if g.Subscriptions != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_subscriptions",
			Help: "Open event subscriptions (websocket and SSE) on this instance.",
		}, func() float64 { return float64(g.Subscriptions()) }))
	}
	if g.Outdated != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_permission_outdated_items",
			Help: "Media items whose file permissions may not match their privacy (-1 when the database cannot be read).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := g.Outdated(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return promhttp.HandlerFor(prometheus.Gatherers{Registry, reg}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ObserveLag records the lag of an event stamped at t.
func ObserveLag(t time.Time) {
	if !t.IsZero() {
		EventLag.Observe(time.Since(t).Seconds())
	}
}
