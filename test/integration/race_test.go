//go:build race

package integration

// raceEnabled reports whether the tests run under the race detector; the
// daemon is then built with -race too.
const raceEnabled = true
