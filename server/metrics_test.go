package server_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// metricValue reads one sample from a Prometheus text exposition, -1 if absent.
func metricValue(t *testing.T, body []byte, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMetrics: /metrics (on the metrics listener) counts permission calls by driver and outcome,
// the outdated items, open subscriptions and the pool queue, in the Prometheus text format.
func TestMetrics(t *testing.T) {
	mem := storage.NewMemACL(storage.MemACLOptions{})
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ACL: mem})
	read := func(series string) float64 {
		t.Helper()
		resp, body := srv.Get(t, srv.MetricsURL+"/metrics", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d", resp.StatusCode)
		}
		return metricValue(t, body, series)
	}
	okBefore := max(read(`veil_permission_calls_total{driver="mem",outcome="ok"}`), 0)
	errBefore := max(read(`veil_permission_calls_total{driver="mem",outcome="error"}`), 0)

	id := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil).ID
	if got := read(`veil_permission_calls_total{driver="mem",outcome="ok"}`) - okBefore; got != 1 {
		t.Errorf("ok calls after one upload: %v, want 1", got)
	}
	mem.SetFail(func(string, bool) error { return storage.ErrUnavailable })
	ctx := auth.WithViewer(context.Background(), auth.System)
	c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "m", References: []media.ReferenceInput{{MediaID: id}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Media.PublishContent(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	retries := media.DefaultConfig().Permissions.Retries
	if got := read(`veil_permission_calls_total{driver="mem",outcome="error"}`) - errBefore; got != float64(1+retries) {
		t.Errorf("error calls: %v, want %d (one call and its retries)", got, 1+retries)
	}
	if got := read("veil_permission_queue_depth"); got != 0 {
		t.Errorf("queue depth when idle: %v", got)
	}
	// The outdated gauge is read at most every 10s: a second server over the same database scrapes
	// it fresh and sees the item whose permissions failed.
	second := veiltest.NewServer(t, srv.DB, nil)
	_, body := second.Get(t, second.MetricsURL+"/metrics", nil)
	if got := metricValue(t, body, "veil_permission_outdated_items"); got != 1 {
		t.Errorf("outdated gauge %v, want 1", got)
	}
	sub, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.Media.Bus().Subscribe(sub, nil, 1)
	if got := read("veil_subscriptions"); got != float64(srv.Media.Bus().Subscribers()) || got < 1 {
		t.Errorf("subscriptions gauge %v, bus has %d", got, srv.Media.Bus().Subscribers())
	}
}
