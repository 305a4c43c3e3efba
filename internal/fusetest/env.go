package fusetest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// EnvCount reads a positive count from the environment variable name,
// def where it is unset: how long a randomized test runs.
func EnvCount(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// EnvSeeds reads a randomized test's seeds from the environment
// variable name: "N" for seeds 1..N (def where it is unset) or seeds
// separated by commas ("7," is seed 7 alone).
func EnvSeeds(t testing.TB, name string, def int) []uint64 {
	t.Helper()
	spec := os.Getenv(name)
	if spec == "" {
		spec = strconv.Itoa(def)
	}
	var seeds []uint64
	if n, err := strconv.Atoi(spec); err == nil {
		for i := 1; i <= n; i++ {
			seeds = append(seeds, uint64(i))
		}
		return seeds
	}
	for _, f := range strings.Split(spec, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		s, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a count or a list of seeds", name, spec)
		}
		seeds = append(seeds, s)
	}
	return seeds
}
