package integration

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// markerWait bounds how long the health probe takes to notice a marker
// change (it re-reads markers every 5 s).
const markerWait = 15 * time.Second

// A marker removed while mounted, or replaced by another tier's, takes
// its tier down within seconds: reads of a file on it answer EIO (never
// ENOENT or other content), a file on another tier still reads, status
// says why, and the right marker back brings the tier back.
func TestFailClosedMarkerWhileMounted(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "mail/u/cur")
	fx.mkdirAll(t, "mail/u/new")
	fx.writeFile(t, "mail/u/cur/1", "on slow")
	fx.writeFile(t, "mail/u/new/1", "on fast")
	fx.requireOnTier(t, "mail/u/cur/1", "slow")
	fx.requireOnTier(t, "mail/u/new/1", "fast")
	marker := fx.tierPath("slow", ".tierfs-tier")
	saved, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	fastMarker, err := os.ReadFile(fx.tierPath("fast", ".tierfs-tier"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name, reason string
		change       func() error
	}{
		{"removed", "is missing", func() error { return os.Remove(marker) }},
		{"replaced by fast's", `names tier "fast"`, func() error { return os.WriteFile(marker, fastMarker, 0o644) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.change(); err != nil {
				t.Fatal(err)
			}
			markerWaitRead(t, fx, "mail/u/cur/1", "on slow", true)
			log := opsWaitLog(t, fx.d, `msg="tier is down; operations that need it fail with EIO" tier=slow`, i+1)
			// The log quotes the reason, escaping its quotes.
			if line := lastLineWith(log, `tier=slow`); !strings.Contains(line, ".tierfs-tier") || !strings.Contains(line, strings.ReplaceAll(c.reason, `"`, `\"`)) {
				t.Errorf("the down line does not name the marker and %q: %s", c.reason, line)
			}
			if got, err := os.ReadFile(fx.path("mail/u/new/1")); err != nil || string(got) != "on fast" {
				t.Errorf("read of mail on fast with slow down: %q, %s; want \"on fast\"", got, errName(err))
			}
			st := markerTierStatus(t, fx, "slow")
			if st.Up || !strings.Contains(st.Error, ".tierfs-tier") || !strings.Contains(st.Error, c.reason) {
				t.Errorf("status of slow: up %v error %q; want down, naming the marker and %q", st.Up, st.Error, c.reason)
			}
			if err := os.WriteFile(marker, saved, 0o644); err != nil {
				t.Fatal(err)
			}
			markerWaitRead(t, fx, "mail/u/cur/1", "on slow", false)
			opsWaitLog(t, fx.d, `msg="tier is back" tier=slow`, i+1)
			if st := markerTierStatus(t, fx, "slow"); !st.Up || st.Error != "" {
				t.Errorf("status of slow with its marker back: up %v error %q", st.Up, st.Error)
			}
		})
	}
}

// markerWaitRead reads rel until it fails with EIO (down) or reads back
// content (up again), within markerWait. Meanwhile, the only answers
// allowed are content and EIO.
func markerWaitRead(t *testing.T, fx *fixture, rel, content string, down bool) {
	t.Helper()
	deadline := time.Now().Add(markerWait)
	for {
		got, err := os.ReadFile(fx.path(rel))
		switch {
		case err != nil && !errors.Is(err, unix.EIO):
			t.Fatalf("read %s: %s, want its content or EIO", rel, errName(err))
		case err == nil && string(got) != content:
			t.Fatalf("read %s: %q, want %q", rel, got, content)
		case (err != nil) == down:
			return
		case time.Now().After(deadline):
			t.Fatalf("read %s still answers %s after %v (want down: %v)", rel, errName(err), markerWait, down)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastLineWith returns the last line of log containing s.
func lastLineWith(log, s string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// markerTierStatus is tier's entry in `tierfs status --json`.
func markerTierStatus(t *testing.T, fx *fixture, tier string) opsTierStatus {
	t.Helper()
	for _, ts := range opsStatusJSON(t, fx.bin, fx.mnt).Tiers {
		if ts.Name == tier {
			return ts
		}
	}
	t.Fatalf("tierfs status has no tier %s", tier)
	return opsTierStatus{}
}
