package tiers

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
