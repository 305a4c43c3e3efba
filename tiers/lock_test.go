package tiers

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A tier's lock is held by one opener at a time: a second one is
// refused with ErrLocked naming the holder's pid, and gets the lock once
// the first closes the tier.
func TestLock(t *testing.T) {
	first := newTestTier(t, "fast")
	second, err := Open(first.Spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := first.Lock(); err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	err = second.Lock()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	for _, want := range []string{`tier "fast"`, first.Path, "pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Lock = %q, want it to mention %q", err, want)
		}
	}
	first.Close()
	if err := second.Lock(); err != nil {
		t.Fatalf("Lock after the holder closed the tier: %v", err)
	}
}

// The lock file is opened without following a symlink planted in its
// place, so the daemon never writes through one.
func TestLockRefusesSymlink(t *testing.T) {
	tr := newTestTier(t, "fast")
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(tr.Path, LockName)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Lock(); !errors.Is(err, unix.ELOOP) {
		t.Errorf("Lock over a symlink = %v, want ELOOP", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the symlink's target was written: %q", b)
	}
}

// A shared tier is locked by one daemon per host: hosts of the cluster
// lock it side by side, a second daemon as the same host is refused, and
// a daemon that is not in the cluster (or a repair) is refused while any
// host holds it, and holds every host off while it does.
func TestLockShared(t *testing.T) {
	base := newTestTier(t, "slow")
	open := func(host string) *Tier {
		spec := base.Spec
		spec.Host = host
		tr, err := Open(spec, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	a, b, a2, alone := open("a"), open("b"), open("a"), open("")
	for _, tc := range []struct {
		name string
		tier *Tier
		want error
	}{
		{"host a", a, nil},
		{"host b beside a", b, nil},
		{"host a again", a2, ErrLocked},
		{"outside the cluster", alone, ErrLocked},
	} {
		if err := tc.tier.Lock(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Lock = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := a2.Lock(); err == nil || !strings.Contains(err.Error(), `as host "a"`) {
		t.Errorf("second daemon as host a: %v, want it to name the host", err)
	}
	a.Close()
	b.Close()
	if err := alone.Lock(); err != nil {
		t.Fatalf("Lock outside the cluster once the hosts are gone: %v", err)
	}
	if err := a2.Lock(); !errors.Is(err, ErrLocked) {
		t.Errorf("host a while a daemon outside the cluster holds the tier: %v, want ErrLocked", err)
	}
}

// Another host takes a host's lock to settle what that host left: not
// while that host's daemon holds it, never its own host's. That host's
// own daemon, mounting while the other host holds it to settle, waits
// for it instead of being refused as a second daemon.
func TestLockHostOf(t *testing.T) {
	base := newTestTier(t, "slow")
	open := func(host string) *Tier {
		spec := base.Spec
		spec.Host = host
		tr, err := Open(spec, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a, b, a2 := open("a"), open("b"), open("a")
	defer b.Close()
	defer a2.Close()
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LockHostOf("a"); !errors.Is(err, ErrLocked) {
		t.Errorf("host b takes a's lock while a's daemon runs: %v, want ErrLocked", err)
	}
	if _, err := b.LockHostOf("b"); err == nil {
		t.Error("host b takes its own lock as another host's")
	}
	a.Close()
	unlock, err := b.LockHostOf("a")
	if err != nil {
		t.Fatalf("host b takes dead a's lock: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		unlock()
	}()
	if err := a2.Lock(); err != nil {
		t.Errorf("a's mount while b settles a's state: %v, want it to wait for b", err)
	}
	<-done
}
