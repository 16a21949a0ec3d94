package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// MemACLOptions configure a MemACL.
type MemACLOptions struct {
	// Latency is added to every call (the call honours ctx while waiting).
	Latency time.Duration
	// FailRate (0..1) is the fraction of calls that fail with ErrUnavailable, drawn from Seed.
	FailRate float64
	Seed     int64
	// Fail, when set, decides failures per call (it overrides FailRate).
	Fail func(key string, public bool) error
}

// MemACL records the state of each key in memory, with injectable latency and failures, for
// tests and benchmarks. Keys never set are unknown, not missing: it does not know the bucket.
type MemACL struct {
	opts  MemACLOptions
	calls atomic.Int64

	mu    sync.Mutex
	rnd   *rand.Rand
	state map[string]bool
	fail  func(key string, public bool) error
}

// NewMemACL returns a MemACL.
func NewMemACL(opts MemACLOptions) *MemACL {
	return &MemACL{opts: opts, rnd: rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)), state: map[string]bool{}, fail: opts.Fail}
}

// Name implements ACL.
func (m *MemACL) Name() string { return "mem" }

// SetPublic implements ACL.
func (m *MemACL) SetPublic(ctx context.Context, key string, public bool) error {
	m.calls.Add(1)
	if m.opts.Latency > 0 {
		select {
		case <-time.After(m.opts.Latency):
		case <-ctx.Done():
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(key, public); err != nil {
			return fmt.Errorf("storage: mem permission of %s: %w", key, err)
		}
	} else if m.opts.FailRate > 0 && m.rnd.Float64() < m.opts.FailRate {
		return fmt.Errorf("storage: mem permission of %s: injected failure: %w", key, ErrUnavailable)
	}
	m.state[key] = public
	return nil
}

// State reports the recorded permission of key.
func (m *MemACL) State(key string) (public, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	public, known = m.state[key]
	return public, known
}

// Calls returns how many calls were made.
func (m *MemACL) Calls() int64 { return m.calls.Load() }

// SetFail changes the failure behaviour at run time (nil: use FailRate again).
func (m *MemACL) SetFail(f func(key string, public bool) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = f
}
