package tiers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeAt writes a file on a test tier with an mtime.
func writeAt(t *testing.T, tr *Tier, rel, data string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(tr.Path, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// A copy is set aside even where its path under RecoveredDir is taken by
// an earlier set-aside file in place of a directory, or where a number
// appended would make the name longer than 255 bytes; nothing already
// set aside is replaced.
func TestSetAsideWhenItsPathIsTaken(t *testing.T) {
	long := strings.Repeat("n", 255)
	tests := []struct{ name, rel, inWay string }{
		{"a file where a directory is needed", "a/b", RecoveredDir + "/a"},
		{"a 255-byte name already set aside", "d/" + long, RecoveredDir + "/d/" + long},
	}
	old, now := time.Unix(1_700_000_000, 0), time.Unix(1_800_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, other := newTestTier(t, "fast"), newTestTier(t, "slow")
			writeAt(t, other, tt.inWay, "set aside before", old)
			writeAt(t, keep, tt.rel, "newer", now)
			writeAt(t, other, tt.rel, "older", old)
			res, where, err := ResolveDuplicate(keep, other, tt.rel)
			if err != nil || res != KeptBoth {
				t.Fatalf("ResolveDuplicate = %v, %q, %v; want KeptBoth", res, where, err)
			}
			dest := strings.TrimPrefix(where, "slow:")
			if got, err := os.ReadFile(filepath.Join(other.Path, dest)); err != nil || string(got) != "older" {
				t.Errorf("set aside at %q: %q, %v", dest, got, err)
			}
			if got, _ := os.ReadFile(filepath.Join(other.Path, tt.inWay)); string(got) != "set aside before" {
				t.Errorf("the earlier set-aside copy %s became %q", tt.inWay, got)
			}
			if AsideOrigin(dest) != tt.rel {
				t.Errorf("AsideOrigin(%q) = %q, want %q", dest, AsideOrigin(dest), tt.rel)
			}
		})
	}
}

// A duplicate "on" one tier twice (a corrupt journal intent naming the
// same tier as source and destination) is no duplicate: the only copy
// stays.
func TestResolveDuplicateSameTier(t *testing.T) {
	tr := newTestTier(t, "fast")
	writeAt(t, tr, "m/1", "only copy", time.Now())
	res, _, err := ResolveDuplicate(tr, tr, "m/1")
	if got, _ := os.ReadFile(filepath.Join(tr.Path, "m/1")); res != Unresolved || err != nil || string(got) != "only copy" {
		t.Errorf("ResolveDuplicate(t, t) = %v, %v; the file holds %q", res, err, got)
	}
}
