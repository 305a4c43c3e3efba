package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
	}
}

// When heartbeats cannot be written, Valid stops advancing and passes,
// and Acquire fails without writing; once they can be written again a
// new Epoch begins.
func TestValidStopsWhenHeartbeatsFail(t *testing.T) {
	t.Parallel()
	tt := testTimes{hostTimeout: 1200 * time.Millisecond, leaseWait: 100 * time.Millisecond, tol: 100 * time.Millisecond}
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string) (restore func())
	}{
		{"temporaries directory replaced by a file", func(t *testing.T, dir string) func() {
			tmp := filepath.Join(dir, tmpDir, "a")
			must(t, os.Rename(tmp, tmp+".away"))
			must(t, os.WriteFile(tmp, nil, 0o644))
			return func() { must(t, os.Remove(tmp)); must(t, os.Rename(tmp+".away", tmp)) }
		}},
		{"tier root replaced", func(t *testing.T, dir string) func() {
			must(t, os.Rename(dir, dir+".away"))
			must(t, os.Mkdir(dir, 0o755))
			return func() { must(t, os.Remove(dir)); must(t, os.Rename(dir+".away", dir)) }
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := markedDir(t)
			a := openHost(t, dir, "a", tt, true)
			ctx := context.Background()
			epoch := a.Epoch()
			waitFor(t, 2*time.Second, "a heartbeat renewal", func() bool { return a.Valid().After(time.Now().Add(tt.hostTimeout / 2)) })
			restore := tc.breakIt(t, dir)
			// The tier's directory cache may carry one more heartbeat
			// into the old directory; from the first failure on, none.
			waitFor(t, 3*time.Second, "a heartbeat failure", func() bool { return a.Stats().HeartbeatFailures > 0 })
			stuck := a.Valid()
			waitFor(t, 3*time.Second, "validity to pass", func() bool { return !time.Now().Before(a.Valid()) })
			if !a.Valid().Equal(stuck) {
				t.Errorf("Valid advanced from %v to %v while heartbeats failed", stuck, a.Valid())
			}
			if _, err := a.Acquire(ctx, "ab", "alice"); !errors.Is(err, ErrLapsed) {
				t.Errorf("Acquire past Valid = %v, want ErrLapsed", err)
			}
			restore()
			if got := leaseFile(t, dir, "ab", "alice"); got != "" {
				t.Errorf("a lapsed host wrote the lease %q", got)
			}
			waitFor(t, 3*time.Second, "validity to come back", func() bool { return time.Now().Before(a.Valid()) })
			if a.Epoch() == epoch {
				t.Errorf("Epoch still %d after a lapse", epoch)
			}
			if _, err := a.Acquire(ctx, "ab", "alice"); err != nil {
				t.Errorf("Acquire after heartbeats resumed: %v", err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A second daemon opening as a host whose heartbeat is live and renewed
// is refused; one whose heartbeat a crashed run left waits until it is
// stale and then opens.
func TestOpenOwnHeartbeat(t *testing.T) {
	t.Parallel()
	tt := testTimes{hostTimeout: time.Second, leaseWait: 100 * time.Millisecond, tol: 100 * time.Millisecond}
	dir := markedDir(t)
	openHost(t, dir, "a", tt, true)
	_, err := Open(context.Background(), Options{Tier: openTier(t, dir), Host: "a", HostTimeout: tt.hostTimeout, ClockTolerance: tt.tol})
	if err == nil {
		t.Fatal("a second daemon opened as a live host")
	}

	crashed := markedDir(t)
	openHost(t, crashed, "a", tt, false) // its heartbeat is never renewed
	start := time.Now()
	openHost(t, crashed, "a", tt, false)
	if time.Since(start) < tt.hostTimeout/2 {
		t.Errorf("opened after %s, while the crashed run's heartbeat was live", time.Since(start))
	}
}

// A host whose clock is off from the lease tier's by more than the
// protocol's margin writes no heartbeat: its validity lapses (and the
// others will take its users) instead of two hosts disagreeing on who
// is alive. Within the tolerance nothing changes.
func TestHeartbeatRefusesClockSkew(t *testing.T) {
	t.Parallel()
	tt := testTimes{hostTimeout: 1200 * time.Millisecond, leaseWait: 100 * time.Millisecond, tol: 100 * time.Millisecond}
	dir := markedDir(t)
	a := openHost(t, dir, "a", tt, true)
	hb := filepath.Join(dir, hostFile("a"))
	a.shift.Store(int64(tt.tol / 2))
	waitFor(t, 2*time.Second, "a heartbeat within the tolerance", func() bool { return a.Valid().After(time.Now().Add(tt.hostTimeout / 2)) })
	if a.Stats().HeartbeatFailures != 0 {
		t.Fatalf("a skew within the tolerance failed heartbeats: %+v", a.Stats())
	}
	a.shift.Store(int64(-5 * time.Second)) // this host's clock runs 5 s behind the tier's
	waitFor(t, 2*time.Second, "a heartbeat failure", func() bool { return a.Stats().HeartbeatFailures > 0 })
	before, err := os.ReadFile(hb)
	must(t, err)
	waitFor(t, 3*time.Second, "validity to pass", func() bool { return !time.Now().Before(a.Valid()) })
	after, err := os.ReadFile(hb)
	must(t, err)
	if string(after) != string(before) {
		t.Errorf("heartbeat written with a skewed clock: %q, then %q", before, after)
	}
	if _, err := a.Acquire(context.Background(), "ab", "alice"); !errors.Is(err, ErrLapsed) {
		t.Errorf("Acquire with a skewed clock = %v, want ErrLapsed", err)
	}
	// One heartbeat may be in flight; none may stay behind.
	waitFor(t, 2*time.Second, "refused heartbeats to leave no temporaries", func() bool {
		ents, err := os.ReadDir(filepath.Join(dir, tmpDir, "a"))
		return err == nil && len(ents) == 0
	})
}

// A daemon that finds this host's heartbeat carrying a SEQ it did not
// write (another daemon started under its name) stops renewing.
func TestHeartbeatSeesDuplicateHost(t *testing.T) {
	t.Parallel()
	tt := testTimes{hostTimeout: time.Second, leaseWait: 100 * time.Millisecond, tol: 100 * time.Millisecond}
	dir := markedDir(t)
	first := openHost(t, dir, "a", tt, false) // stalls long enough to look dead
	second := openHost(t, dir, "a", tt, false)
	if err := first.beat(false); err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("heartbeat over another daemon's = %v", err)
	}
	if err := second.beat(false); err != nil {
		t.Fatalf("the second daemon's heartbeat: %v", err)
	}
}

// A host whose heartbeats fail loses its users to another host once its
// last heartbeat is stale; when its heartbeats resume, a new epoch
// begins and the users are the other host's: refused on Acquire, and
// reported (not overwritten) on Release.
func TestLapsedHostLosesItsUsers(t *testing.T) {
	t.Parallel()
	tt := testTimes{hostTimeout: 1200 * time.Millisecond, leaseWait: 100 * time.Millisecond, tol: 100 * time.Millisecond}
	patient := tt
	patient.leaseWait = 3 * time.Second
	dir := markedDir(t)
	a := openHost(t, dir, "a", tt, true)
	b := openHost(t, dir, "b", patient, true)
	ctx := context.Background()
	if _, err := a.Acquire(ctx, "ab", "alice"); err != nil {
		t.Fatal(err)
	}
	epoch := a.Epoch()
	tmp := filepath.Join(dir, tmpDir, "a")
	must(t, os.Rename(tmp, tmp+".away"))
	must(t, os.WriteFile(tmp, nil, 0o644))
	prev, err := b.Acquire(ctx, "ab", "alice")
	if err != nil || prev != "a" {
		t.Fatalf("b Acquire of a lapsed host's user = %q, %v", prev, err)
	}
	if time.Now().Before(a.Valid()) {
		t.Fatalf("b took a's user while a's Valid lies ahead")
	}
	must(t, os.Remove(tmp))
	must(t, os.Rename(tmp+".away", tmp))
	waitFor(t, 3*time.Second, "a's validity to come back", func() bool { return time.Now().Before(a.Valid()) })
	if a.Epoch() == epoch {
		t.Errorf("Epoch unchanged after a lapse")
	}
	var held *HeldError
	if _, err := a.Acquire(ctx, "ab", "alice"); !errors.As(err, &held) || held.Holder != "b" {
		t.Errorf("a Acquire after its lapse = %v, want a HeldError naming b", err)
	}
	if err := a.Release(ctx, "ab", "alice"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a Release after its lapse = %v, want ErrNotHeld", err)
	}
	if got := leaseFile(t, dir, "ab", "alice"); got != "b held a\n" {
		t.Errorf("lease = %q", got)
	}
}
