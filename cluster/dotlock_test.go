package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// placeLock makes k's dotlock as a host "x" would have, aged by age.
func placeLock(t testing.TB, dir string, k key, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, k.lock())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x 1 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-age)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

func inode(t testing.TB, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st.Ino
}

// tmpEntries lists host's temporaries but those of heartbeats.
func tmpEntries(t testing.TB, dir, host string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, tmpDir, host))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "heartbeat.") { // one may be in flight
			names = append(names, e.Name())
		}
	}
	return names
}

// A dotlock older than HostTimeout (its creator died) is broken and the
// user acquired; a fresh one is never broken: the user is refused,
// naming the lock's holder, and the lock is left as it was.
func TestDotlockStaleAndFresh(t *testing.T) {
	dir := markedDir(t)
	a := openHost(t, dir, "a", quick, true)
	ctx := context.Background()
	k := key{"ab", "alice"}

	placeLock(t, dir, k, quick.hostTimeout+quick.tol+time.Second)
	if prev, err := a.Acquire(ctx, "ab", "alice"); err != nil || prev != "" {
		t.Fatalf("Acquire past a stale dotlock = %q, %v", prev, err)
	}
	if s := a.Stats(); s.BrokenLocks != 1 {
		t.Errorf("stats = %+v, want one broken lock", s)
	}
	if got := tmpEntries(t, dir, "a"); len(got) != 0 {
		t.Errorf("left in a's temporaries: %q", got)
	}

	p := placeLock(t, dir, key{"cd", "carol"}, quick.hostTimeout/2)
	ino := inode(t, p)
	_, err := a.Acquire(ctx, "cd", "carol")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "x" {
		t.Fatalf("Acquire past a fresh dotlock = %v, want a HeldError naming x", err)
	}
	if inode(t, p) != ino {
		t.Errorf("the fresh dotlock was replaced")
	}
	if got := leaseFile(t, dir, "cd", "carol"); got != "" {
		t.Errorf("lease written past a fresh dotlock: %q", got)
	}
}

// Two breakers see one stale lock; the first breaks it and takes the
// lock anew before the second goes on to break "the stale lock", and a
// third host takes the lock whenever its name is free. The second must
// leave the first's fresh lock alone: the first still holds it, and the
// second and third are refused naming it. (A breaker that renamed the
// fresh lock aside and put it back by link lost it to the third.)
func TestDotlockRacingBreakers(t *testing.T) {
	dir := markedDir(t)
	b1 := openHost(t, dir, "b1", quick, true)
	b2 := openHost(t, dir, "b2", quick, true)
	b3 := openHost(t, dir, "b3", quick, true)
	k := key{"ab", "alice"}
	p := placeLock(t, dir, k, time.Hour)
	var first, third *dotlock
	var thirdErr error
	b2.hook = func(point string) {
		switch {
		case (point == "break-read" || point == "break-checked") && first == nil:
			var err error
			if first, err = b1.lock(k); err != nil {
				t.Errorf("first breaker: %v", err)
			}
		case point == "break-renamed" && third == nil && thirdErr == nil:
			third, thirdErr = b3.lock(k)
		}
	}
	_, err := b2.lock(k)
	var busy errLockBusy
	if !errors.As(err, &busy) || busy.holder != "b1" {
		t.Errorf("second breaker = %v, want busy naming b1", err)
	}
	if first == nil {
		t.Fatal("the first breaker never ran")
	}
	if third != nil {
		t.Errorf("a third host took the lock while the first held it")
	}
	if err := b1.ownLock(first); err != nil {
		t.Fatalf("the first breaker's fresh lock was broken: %v", err)
	}
	if inode(t, p) != first.ino {
		t.Errorf("the lock file is not the first breaker's")
	}
	if err := b1.unlock(first); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("lock still there after unlock: %v", err)
	}
	for _, h := range []string{"b1", "b2", "b3"} {
		if got := tmpEntries(t, dir, h); len(got) != 0 {
			t.Errorf("left in %s's temporaries: %q", h, got)
		}
	}
}

// Many hosts race to break one stale lock, round after round: at most
// one of them holds the lock at any moment, and some one gets it.
func TestDotlockBreakRace(t *testing.T) {
	dir := markedDir(t)
	const hosts, rounds = 4, 60
	var ls []*Leases
	for i := range hosts {
		ls = append(ls, openHost(t, dir, string(rune('a'+i)), quick, true))
	}
	k := key{"ab", "alice"}
	for round := range rounds {
		placeLock(t, dir, k, time.Hour)
		var inside, got atomic.Int32
		var wg sync.WaitGroup
		for _, l := range ls {
			wg.Go(func() {
				d, err := l.lock(k)
				if err != nil {
					if !errors.As(err, new(errLockBusy)) {
						t.Errorf("round %d, %s: %v", round, l.Host(), err)
					}
					return
				}
				got.Add(1)
				if n := inside.Add(1); n != 1 {
					t.Errorf("round %d: %d holders of one dotlock", round, n)
				}
				time.Sleep(time.Millisecond)
				if err := l.ownLock(d); err != nil {
					t.Errorf("round %d, %s: %v", round, l.Host(), err)
				}
				inside.Add(-1)
				if err := l.unlock(d); err != nil {
					t.Errorf("round %d, %s: unlock: %v", round, l.Host(), err)
				}
			})
		}
		wg.Wait()
		if got.Load() == 0 {
			t.Errorf("round %d: nobody got the lock", round)
		}
	}
}
