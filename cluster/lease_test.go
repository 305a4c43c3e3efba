package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// One host holds a user at a time: the other waits LeaseWait and is
// refused naming the holder; a release hands the user over, and the
// previous holder is the hostchange signal: the other host's name, ""
// when the same host takes it again.
func TestAcquireExclusiveAndHandover(t *testing.T) {
	dir := markedDir(t)
	a := openHost(t, dir, "a", quick, true)
	b := openHost(t, dir, "b", quick, true)
	ctx := context.Background()
	acquire := func(l *Leases, wantPrev, wantFile string) {
		t.Helper()
		prev, err := l.Acquire(ctx, "ab", "alice")
		if err != nil || prev != wantPrev {
			t.Fatalf("%s Acquire = %q, %v; want %q", l.Host(), prev, err, wantPrev)
		}
		if got := leaseFile(t, dir, "ab", "alice"); got != wantFile {
			t.Fatalf("lease after %s Acquire = %q, want %q", l.Host(), got, wantFile)
		}
	}
	release := func(l *Leases, wantFile string) {
		t.Helper()
		if err := l.Release(ctx, "ab", "alice"); err != nil {
			t.Fatalf("%s Release: %v", l.Host(), err)
		}
		if got := leaseFile(t, dir, "ab", "alice"); got != wantFile {
			t.Fatalf("lease after %s Release = %q, want %q", l.Host(), got, wantFile)
		}
	}
	acquire(a, "", "a held -\n")
	acquire(a, "", "a held -\n") // again: already held, nothing written

	start := time.Now()
	_, err := b.Acquire(ctx, "ab", "alice")
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.Holder != "a" || !strings.Contains(err.Error(), "a") {
		t.Fatalf("b Acquire of a's user = %v, want a HeldError naming a", err)
	}
	if waited := time.Since(start); waited < quick.leaseWait {
		t.Errorf("b was refused after %s, before the lease wait of %s", waited, quick.leaseWait)
	}
	release(a, "a free a\n")
	acquire(b, "a", "b held a\n")
	release(b, "b free b\n")
	acquire(a, "b", "a held b\n")
	release(a, "a free a\n")
	acquire(a, "", "a held a\n")

	sa, sb := a.Stats(), b.Stats()
	if sa.Acquired != 4 || sa.Hostchanges != 1 || sa.Refused != 0 || sa.Stolen != 0 {
		t.Errorf("a's stats = %+v", sa)
	}
	if sb.Acquired != 1 || sb.Hostchanges != 1 || sb.Refused != 1 || sb.Waited != 1 {
		t.Errorf("b's stats = %+v", sb)
	}
}

// Releasing a user this host does not hold changes nothing; releasing
// one another host holds is reported.
func TestReleaseNotHeld(t *testing.T) {
	dir := markedDir(t)
	a := openHost(t, dir, "a", quick, true)
	b := openHost(t, dir, "b", quick, true)
	ctx := context.Background()
	if err := a.Release(ctx, "ab", "alice"); err != nil {
		t.Fatalf("Release of a never-held user: %v", err)
	}
	if got := leaseFile(t, dir, "ab", "alice"); got != "" {
		t.Fatalf("Release of a never-held user wrote %q", got)
	}
	if _, err := b.Acquire(ctx, "ab", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, "ab", "alice"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("a Release of b's user = %v, want ErrNotHeld", err)
	}
	if got := leaseFile(t, dir, "ab", "alice"); got != "b held -\n" {
		t.Fatalf("a's Release changed b's lease to %q", got)
	}
	if a.Stats().Lost != 1 {
		t.Errorf("a's stats = %+v, want Lost 1", a.Stats())
	}
}

// A host whose heartbeat is older than HostTimeout is dead: its users
// are taken over, counted as stolen, with it as the previous holder.
func TestDeadHostTakenOver(t *testing.T) {
	t.Parallel()
	dir := markedDir(t)
	tt := testTimes{hostTimeout: time.Second, leaseWait: 5 * time.Second, tol: 100 * time.Millisecond}
	a := openHost(t, dir, "a", tt, false) // never renews: dies after its first heartbeat
	ctx := context.Background()
	if _, err := a.Acquire(ctx, "ab", "alice"); err != nil {
		t.Fatal(err)
	}
	b := openHost(t, dir, "b", tt, true)
	prev, err := b.Acquire(ctx, "ab", "alice")
	if err != nil || prev != "a" {
		t.Fatalf("b Acquire of a dead host's user = %q, %v; want a", prev, err)
	}
	if got := leaseFile(t, dir, "ab", "alice"); got != "b held a\n" {
		t.Fatalf("lease = %q", got)
	}
	if s := b.Stats(); s.Stolen != 1 || s.Hostchanges != 1 || s.Waited != 1 {
		t.Errorf("b's stats = %+v, want one stolen after waiting", s)
	}
	// a's own view: validity passed, so it may acquire nothing.
	if _, err := a.Acquire(ctx, "cd", "carol"); !errors.Is(err, ErrLapsed) {
		t.Errorf("Acquire on a host whose heartbeat stopped = %v, want ErrLapsed", err)
	}
}

// A host that has said "gone" (Close) is dead at once.
func TestClosedHostIsGone(t *testing.T) {
	dir := markedDir(t)
	a := openHost(t, dir, "a", quick, true)
	b := openHost(t, dir, "b", quick, true)
	ctx := context.Background()
	if _, err := a.Acquire(ctx, "ab", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(quick.hostTimeout / 6 * 3 / 2) // a's Run ticks meanwhile
	if time.Now().Before(a.Valid()) {
		t.Errorf("a closed but Valid is ahead")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, hostFile("a"))); !strings.HasSuffix(string(b), " gone\n") {
		t.Errorf("a's heartbeat after Close = %q, want it gone", b)
	}
	prev, err := b.Acquire(ctx, "ab", "alice")
	if err != nil || prev != "a" {
		t.Fatalf("b Acquire of a gone host's user = %q, %v", prev, err)
	}
	if s := b.Stats(); s.Waited != 0 || s.Stolen != 1 {
		t.Errorf("b's stats = %+v, want taken at once", s)
	}
}

// Names that are not one file name are refused, never joined into a
// path outside the lease directory.
func TestBadNames(t *testing.T) {
	dir := markedDir(t)
	a := openHost(t, dir, "a", quick, false)
	ctx := context.Background()
	long := strings.Repeat("x", 256)
	tests := []struct{ name, hash, user string }{
		{"empty user", "ab", ""},
		{"slash in user", "ab", "../../etc"},
		{"dot user", "ab", "."},
		{"dot-dot user", "ab", ".."},
		{"NUL in user", "ab", "al\x00ice"},
		{"long user", "ab", long},
		{"slash in hash", "a/b", "alice"},
		{"dot-dot hash", "..", "alice"},
		{"NUL in hash", "a\x00", "alice"},
		{"long hash", long, "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Acquire(ctx, tc.hash, tc.user); !errors.Is(err, ErrBadName) {
				t.Errorf("Acquire(%q, %q) = %v, want ErrBadName", tc.hash, tc.user, err)
			}
			if err := a.Release(ctx, tc.hash, tc.user); !errors.Is(err, ErrBadName) {
				t.Errorf("Release(%q, %q) = %v, want ErrBadName", tc.hash, tc.user, err)
			}
		})
	}
	for _, host := range []string{"", ".", "..", "a/b", "a b", "a\nb", strings.Repeat("h", 65)} {
		_, err := Open(ctx, Options{Tier: a.t, Host: host, HostTimeout: time.Second})
		if !errors.Is(err, ErrBadName) {
			t.Errorf("Open as host %q = %v, want ErrBadName", host, err)
		}
	}
	// Odd but legal names work: a user whose name ends like a lock.
	for _, u := range []string{"x.lock", ".hidden", "user@example.com", "a b"} {
		if _, err := a.Acquire(ctx, "", u); err != nil {
			t.Errorf("Acquire(%q): %v", u, err)
		}
		if got := leaseFile(t, dir, noHash, u); got != "a held -\n" {
			t.Errorf("lease of %q = %q", u, got)
		}
	}
}

// What a host makes of the lease and heartbeat it finds: the table of
// the package comment. Nothing it refuses is overwritten. Check, asked
// first, gives the same verdict and changes nothing.
func TestAcquireReadsWhatItFinds(t *testing.T) {
	t.Parallel()
	old := -time.Hour
	tests := []struct {
		name       string
		lease      string
		leaseAge   time.Duration
		beat       string // heartbeat of host z; "" none
		wantPrev   string
		wantErr    error
		wantStolen uint64
	}{
		{"no lease", "", 0, "", "", nil, 0},
		{"free, last held by z", "z free z\n", 0, "", "z", nil, 0},
		{"held by this host", "a held -\n", 0, "", "", nil, 0},
		{"held by z, live", "z held -\n", 0, "z 7 NOW\n", "", ErrHeld, 0},
		{"held by z, stale heartbeat", "z held -\n", 0, "z 7 OLD\n", "z", nil, 1},
		{"held by z, gone", "z held -\n", 0, "z 7 NOW gone\n", "z", nil, 1},
		{"held by z, no heartbeat, recent lease", "z held -\n", 0, "", "", ErrHeld, 0},
		{"held by z, no heartbeat, old lease", "z held -\n", old, "", "z", nil, 1},
		{"held by z, unreadable heartbeat", "z held -\n", old, "garbage\n", "", ErrHeld, 0},
		{"torn lease", "z he", 0, "", "", ErrCorrupt, 0},
		{"empty lease", "", -1, "", "", ErrCorrupt, 0},
		{"unknown state", "z taken -\n", 0, "", "", ErrCorrupt, 0},
		{"bad holder", "../z held -\n", 0, "", "", ErrCorrupt, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := markedDir(t)
			a := openHost(t, dir, "a", quick, true)
			p := filepath.Join(dir, leasesDir, "ab", "alice")
			if tc.lease != "" || tc.leaseAge == -1 {
				must(t, os.MkdirAll(filepath.Dir(p), 0o755))
				must(t, os.WriteFile(p, []byte(tc.lease), 0o644))
				at := time.Now().Add(tc.leaseAge)
				must(t, os.Chtimes(p, at, at))
			}
			if tc.beat != "" {
				s := strings.NewReplacer("NOW", strconv.FormatInt(time.Now().UnixNano(), 10),
					"OLD", strconv.FormatInt(time.Now().Add(old).UnixNano(), 10)).Replace(tc.beat)
				must(t, os.WriteFile(filepath.Join(dir, hostFile("z")), []byte(s), 0o644))
			}
			before := leaseFile(t, dir, "ab", "alice")
			if err := a.Check("ab", "alice"); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Check = %v, want %v", err, tc.wantErr)
			}
			if got := leaseFile(t, dir, "ab", "alice"); got != before || a.Stats().Stolen != 0 {
				t.Errorf("Check changed the lease from %q to %q (stolen %d)", before, got, a.Stats().Stolen)
			}
			prev, err := a.Acquire(context.Background(), "ab", "alice")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || prev != tc.wantPrev {
				t.Fatalf("Acquire = %q, %v; want %q, %v", prev, err, tc.wantPrev, tc.wantErr)
			}
			got := leaseFile(t, dir, "ab", "alice")
			switch {
			case tc.wantErr != nil && got != tc.lease:
				t.Errorf("a refused lease was changed from %q to %q", tc.lease, got)
			case tc.wantErr == nil && got != formatLease("a", stateHeld, tc.wantPrev):
				t.Errorf("lease = %q", got)
			}
			if s := a.Stats(); s.Stolen != tc.wantStolen {
				t.Errorf("stolen = %d, want %d", s.Stolen, tc.wantStolen)
			}
		})
	}
}
