// Package dovecotcluster runs two Dovecot hosts, each on its own tierfs
// mount, over shared persistent tiers in a tierfs cluster: mail
// delivered on one host is read, flagged and expunged on the other,
// as a director moving a user between servers makes it. It needs root,
// /dev/fuse and Debian's dovecot-core, -imapd and -lmtpd; without them
// it skips, unless TIERFS_REQUIRE_INTEGRATION=1 makes that a failure.
// TIERFS_BIN names a prebuilt tierfs binary instead of building one.
package dovecotcluster

import (
	"testing"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// tierfs is the binary TestMain built, read by the tests.
var tierfs dovecottest.Binary

func TestMain(m *testing.M) { dovecottest.RunMain(m, "tierfs-dccluster", &tierfs) }

// openDir returns a new directory Dovecot's unprivileged processes can
// traverse, short enough for socket paths.
func openDir(t *testing.T) string { return dovecottest.OpenDir(t, "tierfs-dcc") }
