package main

import (
	"math"
	"os"
	"runtime/debug"
)

// defaultGOGC is the garbage collector's target that serve sets when the operator did not set
// GOGC. Answering a GraphQL list allocates close to a megabyte of short-lived objects per request
// (gqlgen's per-field contexts and marshalers), so at Go's default of 100 the collector runs every
// few requests. At 400 the heap may grow to five times what is live between collections instead
// of twice: images(first: 50) took 15-25% less CPU per request, and peak RSS under that load went
// from about 75 to 105-120 MiB (bench/list-vs-handwritten).
const defaultGOGC = 400

// memoryLimitHeadroom is what the default soft memory limit allows above the rendition budget:
// the rest of the server (caches, connections, uploads in flight, garbage of answered requests).
const memoryLimitHeadroom = 512 << 20

// setDefaultGC sets the collector's target to defaultGOGC unless GOGC is set, and, unless
// GOMEMLIMIT is set, a soft memory limit of the rendition budget plus memoryLimitHeadroom. The
// larger target must not multiply the garbage of large renditions (their decodes are what the
// budget counts) by five: near the limit the collector runs as often as it must, whatever the
// target, so the heap stays within the budget it was sized by rather than growing to five (or, at
// Go's default, two) times its live part.
func setDefaultGC(renditionBudget int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	if os.Getenv("GOMEMLIMIT") == "" && renditionBudget > 0 && renditionBudget < math.MaxInt64-memoryLimitHeadroom {
		debug.SetMemoryLimit(renditionBudget + memoryLimitHeadroom)
	}
}
