// Package fusetest holds what tests that mount FUSE filesystems share.
package fusetest

import (
	"os"
	"testing"
)

// Require skips t without root or /dev/fuse, unless the environment
// demands integration tests (TIERFS_REQUIRE_INTEGRATION=1, as CI sets
// it), in which case it fails.
func Require(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else if _, err := os.Stat("/dev/fuse"); err != nil {
		why = "needs /dev/fuse: " + err.Error()
	}
	if why == "" {
		return
	}
	if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
