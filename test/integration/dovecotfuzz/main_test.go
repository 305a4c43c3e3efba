// Package dovecotfuzz drives two Dovecots with one random sequence of
// LMTP deliveries and IMAP commands: one Dovecot on tierfs, whose mover,
// remounts, crashes and tmpfs wipes run between the commands, and one on
// plain directories. TestDovecotClusterFuzz puts a Dovecot on each of
// two tierfs hosts of a cluster instead, moving users between them. Every command must succeed or fail alike on both,
// both must show the same mailboxes holding the same messages with the
// same flags, and on tierfs every body must read back as sent and every
// UID stay with its message.
//
// It needs root, /dev/fuse and Debian's dovecot-core, -imapd and -lmtpd;
// without them it skips, unless TIERFS_REQUIRE_INTEGRATION=1 makes that a
// failure. TIERFS_DOVECOT_SEEDS (a count, or a comma-separated list of
// seeds) and TIERFS_DOVECOT_OPS run it longer; TIERFS_BIN names a
// prebuilt tierfs binary instead of building one.
package dovecotfuzz

import (
	"testing"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// tierfs is the binary TestMain built, read by the tests.
var tierfs dovecottest.Binary

func TestMain(m *testing.M) { dovecottest.RunMain(m, "tierfs-dcfuzz", &tierfs) }

// openDir returns a new directory Dovecot's unprivileged processes can
// traverse, short enough for socket paths.
func openDir(t *testing.T) string { return dovecottest.OpenDir(t, "tierfs-dcf") }
