package main

import (
	"runtime/debug"
	"testing"
)

// serve sets the collector's target to defaultGOGC, unless the operator set GOGC.
func TestDefaultGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	for _, c := range []struct {
		env  string
		want int
	}{{"", defaultGOGC}, {"150", 100}} {
		debug.SetGCPercent(100)
		t.Setenv("GOGC", c.env)
		setDefaultGC()
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC=%q: the target is %d, want %d", c.env, got, c.want)
		}
	}
}
