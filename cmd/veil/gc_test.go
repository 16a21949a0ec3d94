package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// serve sets the collector's target to defaultGOGC unless the operator set GOGC, and a soft
// memory limit of the rendition budget plus headroom unless the operator set GOMEMLIMIT.
func TestDefaultGC(t *testing.T) {
	prevGC, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) })
	const budget = 1 << 30
	for _, c := range []struct {
		gogc, gomemlimit string
		wantGC           int
		wantLimit        int64
	}{
		{"", "", defaultGOGC, budget + memoryLimitHeadroom},
		{"150", "", 100, budget + memoryLimitHeadroom},
		{"", "3GiB", defaultGOGC, math.MaxInt64},
	} {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		t.Setenv("GOGC", c.gogc)
		t.Setenv("GOMEMLIMIT", c.gomemlimit)
		setDefaultGC(budget)
		if got := debug.SetGCPercent(100); got != c.wantGC {
			t.Errorf("GOGC=%q: the target is %d, want %d", c.gogc, got, c.wantGC)
		}
		if got := debug.SetMemoryLimit(math.MaxInt64); got != c.wantLimit {
			t.Errorf("GOMEMLIMIT=%q: the soft limit is %d, want %d", c.gomemlimit, got, c.wantLimit)
		}
	}
}
