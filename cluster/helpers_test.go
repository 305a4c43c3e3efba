package cluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// testTimes are short protocol times for tests.
type testTimes struct {
	hostTimeout, leaseWait, tol time.Duration
}

var quick = testTimes{hostTimeout: 3 * time.Second, leaseWait: 300 * time.Millisecond, tol: 200 * time.Millisecond}

// markedDir makes a directory marked as a persistent tier.
func markedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := tiers.WriteMarker(dir, "shared"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openTier opens dir as a tier of its own (one per simulated host).
func openTier(t testing.TB, dir string) *tiers.Tier {
	t.Helper()
	tr, err := tiers.Open(tiers.Spec{Name: "shared", Path: dir, Kind: tiers.KindLocal}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// openHost opens host's Leases on dir; with run, its heartbeat runs
// until the test ends.
func openHost(t testing.TB, dir, host string, tt testTimes, run bool) *Leases {
	t.Helper()
	l, err := Open(context.Background(), Options{
		Tier: openTier(t, dir), Host: host, HostTimeout: tt.hostTimeout, LeaseWait: tt.leaseWait,
		ClockTolerance: tt.tol, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatalf("Open %s: %v", host, err)
	}
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return l
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// leaseFile reads a lease as a host would see it on the tier.
func leaseFile(t testing.TB, dir, hash, user string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, leasesDir, hash, user))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
