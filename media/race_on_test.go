//go:build race

package media_test

// raceEnabled is true under the race detector, which slows this package's interleaving tests about
// twentyfold: their exhaustive orderings then run on SQLite alone (the Postgres run without the
// detector still covers every ordering on both databases).
const raceEnabled = true
