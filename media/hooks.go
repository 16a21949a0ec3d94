package media

import (
	"sync/atomic"
	"time"
)

// testHooks are pause points at the steps whose interleaving decides a file's permission: a
// rendition's privacy read, object write, row insert and permission call, and a privacy change's
// commit, listing of files, permission calls and recording. Tests install them (export_test.go) to
// run every ordering of a generation against a publish or unpublish; in production none is set and
// each point costs one atomic load.
type testHooks struct {
	// at is called before the step named point ("rendition.write", "sync.list", …) of the work on
	// ids (an image id for rendition steps, a content id for "publish.commit", the comma-separated
	// media ids of a sync).
	at func(point, ids string)
	// now, when set, is the clock of permission leases.
	now func() time.Time
}

type hookSlot struct{ p atomic.Pointer[testHooks] }

func (s *Service) hook(point, ids string) {
	if h := s.hooks.p.Load(); h != nil && h.at != nil {
		h.at(point, ids)
	}
}

// now is the clock of permission leases: the wall clock, or a test's.
func (s *Service) now() time.Time {
	if h := s.hooks.p.Load(); h != nil && h.now != nil {
		return h.now().UTC()
	}
	return time.Now().UTC()
}

// CrashAt makes the service call crash at the step named point (as the test hooks name them, e.g.
// "publish.committed": a publish's transaction committed, its events not yet delivered). Fault
// tests of whole processes use it through VEIL_TEST_CRASH_AT; it replaces any test hook.
func (s *Service) CrashAt(point string, crash func()) {
	s.hooks.p.Store(&testHooks{at: func(p, _ string) {
		if p == point {
			crash()
		}
	}})
}
