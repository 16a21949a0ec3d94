package upload

import (
	"fmt"
	"os"
	"sync"
)

// SpoolBudget bounds the bytes all requests together may hold spooled to disk at once. It is
// safe for concurrent use; a nil *SpoolBudget allows everything.
type SpoolBudget struct {
	max int64

	mu   sync.Mutex
	used int64
}

// NewSpoolBudget allows max bytes spooled at once across requests.
func NewSpoolBudget(max int64) *SpoolBudget { return &SpoolBudget{max: max} }

func (b *SpoolBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *SpoolBudget) release(n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// Used returns the bytes currently spooled across requests.
func (b *SpoolBudget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// SpoolLimitError refuses an upload whose out-of-order file parts would spool more than a limit:
// Scope is "request" (Transport.MaxSpoolRequest) or "total" (the shared SpoolBudget, a condition
// that passes: retry later).
type SpoolLimitError struct {
	Scope string
	Limit int64
}

func (e *SpoolLimitError) Error() string { return "upload: " + e.Message() }

// Message is the error for the client, without the package prefix.
func (e *SpoolLimitError) Message() string {
	if e.Scope == "total" {
		return fmt.Sprintf("the server is holding its limit of %d bytes of out-of-order file parts; send file parts in the order the operation uses them, or retry later", e.Limit)
	}
	return fmt.Sprintf("file parts sent out of order would need more than %d bytes of temporary space; send file parts in the order the operation uses them", e.Limit)
}

// spoolWriter writes a spooled part to f, counting its bytes against the request's and the
// shared limits before they are written.
type spoolWriter struct {
	f *os.File
	s *stream
}

func (w spoolWriter) Write(p []byte) (int, error) {
	n := int64(len(p))
	if w.s.maxSpool > 0 && w.s.spooledBytes+n > w.s.maxSpool {
		return 0, &SpoolLimitError{Scope: "request", Limit: w.s.maxSpool}
	}
	if !w.s.budget.take(n) {
		return 0, &SpoolLimitError{Scope: "total", Limit: w.s.budget.max}
	}
	w.s.spooledBytes += n
	return w.f.Write(p)
}
