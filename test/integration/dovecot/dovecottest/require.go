package dovecottest

import (
	"os"
	"testing"
)

// Require skips t unless it runs as root and every path in need exists.
// With TIERFS_REQUIRE_INTEGRATION=1 (as CI sets it) a missing
// prerequisite fails the test instead: CI must never pass by skipping.
// err, if not nil, is one more missing prerequisite (a failed build).
func Require(t testing.TB, err error, need ...string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("prerequisite missing: "+format, args...)
		}
		t.Skipf("prerequisite missing: "+format, args...)
	}
	if os.Geteuid() != 0 {
		missing("must run as root (mounts, Dovecot, useradd)")
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			missing("%s: %v", p, err)
		}
	}
	if err != nil {
		missing("%v", err)
	}
}

// Require skips t (or, with TIERFS_REQUIRE_INTEGRATION=1, fails it)
// unless what a test of tierfs under Dovecot needs is present: root,
// the built binary, /dev/fuse and Dovecot's master, imap and lmtp.
func (b Binary) Require(t testing.TB) {
	t.Helper()
	Require(t, b.Err, DovecotBinary, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp", "/dev/fuse")
}
