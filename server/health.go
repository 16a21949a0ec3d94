package server

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// readiness checks the database and the bucket, caching the answer briefly so a busy load
// balancer does not turn /readyz into a storage benchmark.
type readiness struct {
	log   *slog.Logger
	db    *models.DB
	store *storage.Store
	media *media.Service
	// cacheFor is how long an answer is reused (Config.ReadinessCache).
	cacheFor time.Duration

	mu      sync.Mutex
	checked time.Time
	last    readyReport
}

type readyReport struct {
	Ready           bool              `json:"ready"`
	Database        string            `json:"database"`
	Storage         string            `json:"storage"`
	StoragePrefixes map[string]string `json:"storagePrefixes"` // "originals/": "ok" or why not
	FilePermissions permissionReport  `json:"filePermissions"`
	Checked         string            `json:"checked"`
}

// permissionReport says how privacy reaches storage and how far behind it is. Drift does not make
// Veil unready: outdated public items are served through Veil until the retry loop catches up.
type permissionReport struct {
	Strategy string `json:"strategy"`
	Reason   string `json:"reason,omitempty"`
	Outdated *int   `json:"outdated,omitempty"`
}

const readyCacheFor = 2 * time.Second

func newReadiness(db *models.DB, svc *media.Service, log *slog.Logger) *readiness {
	return &readiness{log: log, db: db, store: svc.Store(), media: svc, cacheFor: readyCacheFor}
}

// unreadyReason says why a check failed in words that reveal nothing of the host (paths, users,
// addresses): /readyz answers anyone. The cause goes to the log.
func unreadyReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, storage.ErrUnavailable), models.Unavailable(err):
		return "unavailable"
	}
	return "failed"
}

func (r *readiness) check(ctx context.Context) readyReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < r.cacheFor {
		return r.last
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rep := readyReport{Ready: true, Database: "ok", Storage: "ok", StoragePrefixes: map[string]string{}}
	if err := r.db.PingContext(ctx); err != nil {
		r.log.ErrorContext(ctx, "readiness: database", "err", err)
		rep.Ready, rep.Database = false, unreadyReason(err)
	}
	// Each prefix Veil writes is probed: one that is not writable fails the uploads (or
	// renditions) that go there, whatever the top folder allows.
	var failed []string
	for _, p := range r.store.ProbeEach(ctx) {
		rep.StoragePrefixes[p.Prefix] = "ok"
		if p.Err != nil {
			r.log.ErrorContext(ctx, "readiness: storage", "prefix", p.Prefix, "err", p.Err)
			rep.StoragePrefixes[p.Prefix] = unreadyReason(p.Err)
			failed = append(failed, p.Prefix)
		}
	}
	if len(failed) > 0 {
		rep.Ready, rep.Storage = false, "not writable: "+strings.Join(failed, ", ")+" (see storagePrefixes)"
	}
	rep.FilePermissions.Strategy, rep.FilePermissions.Reason = r.media.PermissionStrategy()
	if rep.Database == "ok" {
		if n, err := r.media.CountOutdated(ctx); err == nil {
			rep.FilePermissions.Outdated = &n
		}
	}
	r.checked = time.Now()
	rep.Checked = r.checked.UTC().Format(time.RFC3339)
	r.last = rep
	return rep
}

// healthz says the process is alive; it checks nothing else.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz reports whether the database and the storage work (200) or not (503), with the reason.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rep := s.ready.check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rep)
}
