// Package dovecotcluster runs two Dovecot hosts, each on its own tierfs
// mount, over shared persistent tiers in a tierfs cluster: mail
// delivered on one host is read, flagged and expunged on the other,
// as a director moving a user between servers makes it. It needs root,
// /dev/fuse and Debian's dovecot-core, -imapd and -lmtpd; without them
// it skips, unless TIERFS_REQUIRE_INTEGRATION=1 makes that a failure.
// TIERFS_BIN names a prebuilt tierfs binary instead of building one.
package dovecotcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// tierfsBin and buildErr are set once by TestMain, read by the tests.
var tierfsBin, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tierfs-dccluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if tierfsBin = os.Getenv("TIERFS_BIN"); tierfsBin == "" {
		tierfsBin = filepath.Join(dir, "tierfs")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", tierfsBin, "github.com/tierfs/tierfs/cmd/tierfs").CombinedOutput()
		cancel()
		if err != nil {
			buildErr = fmt.Errorf("build tierfs: %w: %s", err, out)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireIntegration skips (or, with TIERFS_REQUIRE_INTEGRATION=1, fails)
// unless everything a real run needs is present.
func requireIntegration(t *testing.T) {
	t.Helper()
	dovecottest.Require(t, buildErr, dovecottest.DovecotBinary, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp", "/dev/fuse")
}

// openDir returns a new directory Dovecot's unprivileged processes can
// traverse, short enough for socket paths.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tierfs-dcc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
