//go:build race

package fs

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = true
