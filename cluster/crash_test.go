package cluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash tests run host "a" in a child process (this test binary,
// re-executed) that kills itself with SIGKILL at one crash point.
const (
	envCrashDir   = "TIERFS_CLUSTER_CRASH_DIR"
	envCrashOp    = "TIERFS_CLUSTER_CRASH_OP"
	envCrashPoint = "TIERFS_CLUSTER_CRASH_POINT"
)

// crashTimes are the child's and the survivor's protocol times.
var crashTimes = testTimes{hostTimeout: time.Second, leaseWait: 100 * time.Millisecond, tol: 200 * time.Millisecond}

// TestCrashChild is not a test: it is the body of the crashing host.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("child process body; runs only when re-executed by TestCrash")
	}
	tt := crashTimes
	l, err := Open(context.Background(), Options{
		Tier: openTier(t, dir), Host: "a", HostTimeout: tt.hostTimeout, LeaseWait: tt.leaseWait,
		ClockTolerance: tt.tol, Logger: testLogger(t), CrashPoint: os.Getenv(envCrashPoint),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.Acquire(ctx, "ab", "alice"); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(envCrashOp) == "release" {
		if err := l.Release(ctx, "ab", "alice"); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the crash point was never reached")
}

// crashCase is one crash point of one operation and the lease it must
// leave: the old content or the new one, as the step implies.
type crashCase struct {
	op, point, want string
}

func crashCases() []crashCase {
	const free, held, freed = "b free b\n", "a held b\n", "a free a\n"
	return []crashCase{
		{"acquire", "heartbeat-temp", free},
		{"acquire", "heartbeat-renamed", free},
		{"acquire", "break-read", free},
		{"acquire", "break-token", free},
		{"acquire", "break-checked", free},
		{"acquire", "break-renamed", free},
		{"acquire", "lock-created", free},
		{"acquire", "acquire-locked", free},
		{"acquire", "acquire-temp", free},
		{"acquire", "acquire-renamed", held},
		{"acquire", "acquire-written", held},
		{"release", "release-locked", held},
		{"release", "release-temp", held},
		{"release", "release-renamed", freed},
		{"release", "release-written", freed},
	}
}

// Every crash point is covered by a case.
func TestCrashCasesCoverPoints(t *testing.T) {
	var covered []string
	for _, c := range crashCases() {
		covered = append(covered, c.point)
	}
	for _, p := range CrashPoints {
		if !slices.Contains(covered, p) {
			t.Errorf("crash point %q has no crash case", p)
		}
	}
}

// A host killed at any step of Acquire or Release (with a stale dotlock
// of a dead host to break first) leaves the old lease or the new one,
// never a torn one or none; the surviving host acquires the user within
// HostTimeout plus slack; and the killed host, back, is refused it.
func TestCrash(t *testing.T) {
	t.Parallel()
	for _, c := range crashCases() {
		t.Run(c.op+"/"+c.point, func(t *testing.T) {
			t.Parallel()
			crashOne(t, c)
		})
	}
}

func crashOne(t *testing.T, c crashCase) {
	tt := crashTimes
	dir := markedDir(t)
	patient := tt
	patient.leaseWait = tt.hostTimeout + tt.tol + 3*time.Second
	b := openHost(t, dir, "b", patient, true)
	ctx := context.Background()
	must(t, errors.Join(func() error { _, err := b.Acquire(ctx, "ab", "alice"); return err }(), b.Release(ctx, "ab", "alice")))
	placeLock(t, dir, key{"ab", "alice"}, time.Hour)

	runCrashChild(t, dir, c)
	if got := leaseFile(t, dir, "ab", "alice"); got != c.want {
		t.Fatalf("lease after a crash at %s = %q, want %q", c.point, got, c.want)
	}
	checkHeartbeat(t, dir, c.point)

	start := time.Now()
	prev, err := b.Acquire(ctx, "ab", "alice")
	if err != nil {
		t.Fatalf("b Acquire after a's crash at %s: %v (after %s)", c.point, err, time.Since(start))
	}
	wantPrev := ""
	if strings.HasPrefix(c.want, "a ") {
		wantPrev = "a"
	}
	if prev != wantPrev {
		t.Errorf("b Acquire prev = %q, want %q", prev, wantPrev)
	}
	if got := leaseFile(t, dir, "ab", "alice"); !strings.HasPrefix(got, "b held ") {
		t.Errorf("lease after b's Acquire = %q", got)
	}
	// a comes back: its leftovers are cleared, and b's user is b's.
	a := openHost(t, dir, "a", tt, true)
	if got := tmpEntries(t, dir, "a"); len(got) != 0 {
		t.Errorf("a's temporaries after it opened again: %q", got)
	}
	var held *HeldError
	if _, err := a.Acquire(ctx, "ab", "alice"); !errors.As(err, &held) || held.Holder != "b" {
		t.Errorf("a, back, Acquire of b's user = %v, want a HeldError naming b", err)
	}
}

// runCrashChild runs host a in a child until it kills itself at c.point.
func runCrashChild(t *testing.T, dir string, c crashCase) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashOp+"="+c.op, envCrashPoint+"="+c.point)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child at %s ended with %v, not SIGKILL:\n%s", c.point, err, out)
	}
}

// checkHeartbeat checks a's heartbeat is whole, or absent when the
// crash came before the first was renamed into place.
func checkHeartbeat(t *testing.T, dir, point string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, hostFile("a")))
	if point == "heartbeat-temp" {
		if !os.IsNotExist(err) {
			t.Errorf("a's heartbeat after a crash before its first rename: %q, %v", b, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseBeat("a", string(b)); err != nil {
		t.Errorf("a's heartbeat after a crash at %s: %v", point, err)
	}
}
