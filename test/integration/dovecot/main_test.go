// Package dovecot runs a real Dovecot on tierfs: delivery over LMTP, IMAP
// operations, remounts and a simulated reboot, for maildir, sdbox and
// mdbox, checking that every file lands on its tier.
//
// It needs root, /dev/fuse and Debian's dovecot-core, -imapd and -lmtpd.
// Without them the tests skip, unless TIERFS_REQUIRE_INTEGRATION=1, which
// makes a missing prerequisite a failure. TIERFS_DOVECOT_STORAGE=plain runs
// the same suite on plain directories (symlinked into the tiers) instead of
// a tierfs mount, to tell Dovecot problems from tierfs problems.
// TIERFS_BIN names a prebuilt tierfs binary instead of building ./cmd/tierfs.
//
// Run it as root: go test ./test/integration/dovecot/
package dovecot

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

// suiteEnv is what TestMain prepared for every test.
type suiteEnv struct {
	tierfsBin string
	buildErr  error
	kind      dovecottest.Kind
}

// env is set once by TestMain before any test runs and only read after.
var env suiteEnv

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tierfs-dovecot-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	env.kind = dovecottest.KindTierfs
	if os.Getenv("TIERFS_DOVECOT_STORAGE") == string(dovecottest.KindPlain) {
		env.kind = dovecottest.KindPlain
	}
	if bin := os.Getenv("TIERFS_BIN"); bin != "" {
		env.tierfsBin = bin
	} else {
		env.tierfsBin, env.buildErr = buildTierfs(dir)
	}
	return m.Run()
}

// buildTierfs builds ./cmd/tierfs into dir.
func buildTierfs(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "tierfs")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tierfs/tierfs/cmd/tierfs")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build tierfs: %w: %s", err, out)
	}
	return bin, nil
}

// requireIntegration skips (or, with TIERFS_REQUIRE_INTEGRATION=1, fails)
// unless everything a real run needs is present.
func requireIntegration(t *testing.T) {
	t.Helper()
	need := []string{dovecottest.DovecotBinary, "/usr/bin/doveadm", "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"}
	if env.kind == dovecottest.KindTierfs {
		need = append(need, "/dev/fuse")
	}
	dovecottest.Require(t, env.buildErr, need...)
}
