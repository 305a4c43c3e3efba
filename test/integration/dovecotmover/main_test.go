// Package dovecotmover runs the tierfs mover under a real Dovecot: mail
// is delivered, aged, and demoted to the slow tier while IMAP sessions
// fetch and LMTP delivers, for maildir, sdbox and mdbox. It needs root,
// /dev/fuse and Debian's dovecot-core, -imapd and -lmtpd; without them it
// skips, unless TIERFS_REQUIRE_INTEGRATION=1 makes that a failure.
// TIERFS_BIN names a prebuilt tierfs binary instead of building one.
package dovecotmover

import (
	"testing"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// tierfs is the binary TestMain built, read by the tests.
var tierfs dovecottest.Binary

func TestMain(m *testing.M) { dovecottest.RunMain(m, "tierfs-dcmover", &tierfs) }

// openDir returns a new directory Dovecot's unprivileged processes can
// traverse, short enough for socket paths.
func openDir(t *testing.T) string { return dovecottest.OpenDir(t, "tierfs-dcm") }
