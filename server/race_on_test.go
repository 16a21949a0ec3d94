//go:build race

package server_test

// raceEnabled is true when the tests run under the race detector, which slows websocket and JSON
// work about tenfold: the heaviest fan-out tests scale their subscriber counts down with it.
const raceEnabled = true
