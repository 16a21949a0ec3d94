package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// TestDatabaseOutage runs Veil on a throwaway Postgres cluster and takes the cluster away twice:
// stopped (connections refused) and frozen with SIGSTOP (nothing answers). Either way a GraphQL
// request answers DATABASE_UNAVAILABLE with HTTP 503 and Retry-After, a serve view 503 with
// Retry-After, and /readyz 503 naming the database; the frozen cluster is given up on after the
// statement and acquire timeouts (500ms + 300ms here), not the client's patience. Once the
// cluster is back, requests succeed again without a restart.
func TestDatabaseOutage(t *testing.T) {
	pg := veiltest.StartPostgres(t)
	db, err := models.Open(context.Background(), models.DBConfig{URL: pg.URL, StatementTimeout: 500 * time.Millisecond, AcquireTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := models.Migrate(context.Background(), db.DB); err != nil {
		t.Fatal(err)
	}
	acfg := auth.DefaultConfig()
	acfg.CacheTTL = 0 // every request reads its token: the database is on every path
	scfg := server.DefaultConfig()
	scfg.ReadinessCache = -1
	srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Auth: &acfg, Server: &scfg})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil)
	// A liveness guard, not a measurement: far above the configured timeouts.
	srv.HTTP.Client().Timeout = 30 * time.Second
	const query = `query($id: ID!) { image(id: $id) { id title } }`
	vars := map[string]any{"id": img.ID}

	down := func(t *testing.T, how string) {
		t.Helper()
		for _, s := range []*veiltest.Server{srv, srv.As("")} { // with a token, and anonymous
			start := time.Now()
			r := srv.As(s.Token).GraphQL(query, vars)
			t.Logf("%s: GraphQL answered in %v", how, time.Since(start).Round(time.Millisecond))
			if r.Code() != "DATABASE_UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s, token %v: %d %v %s", how, s.Token != "", r.Status, r.Header, r.Raw)
			}
		}
		resp, body := srv.Get(t, img.URL, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: serve view %d %v %s", how, resp.StatusCode, resp.Header, body)
		}
		resp, body = srv.As("").Get(t, "/readyz", nil)
		var ready struct {
			Ready    bool
			Database string
		}
		_ = json.Unmarshal(body, &ready)
		if resp.StatusCode != http.StatusServiceUnavailable || ready.Ready || (ready.Database != "unavailable" && ready.Database != "timed out") {
			t.Errorf("%s: readyz %d %s", how, resp.StatusCode, body)
		}
	}
	up := func(t *testing.T, how string) {
		t.Helper()
		// Each pooled connection the outage broke fails one statement before it is dropped.
		for attempt := 0; ; attempt++ {
			r := srv.GraphQL(query, vars)
			if len(r.Errors) == 0 && strings.Contains(string(r.Data), img.ID) {
				break
			}
			if attempt > 20 {
				t.Fatalf("%s: still failing: %s", how, r.Raw)
			}
		}
		if resp, _ := srv.Get(t, img.URL, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: serve view %d", how, resp.StatusCode)
		}
		if resp, body := srv.As("").Get(t, "/readyz", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: readyz %d %s", how, resp.StatusCode, body)
		}
	}

	pg.Stop()
	down(t, "stopped")
	pg.Start()
	up(t, "restarted")

	pg.Pause()
	down(t, "frozen")
	pg.Resume()
	up(t, "resumed")
}
