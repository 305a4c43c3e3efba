package dovecottest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Binary is the tierfs binary a test package runs: TIERFS_BIN, or one
// RunMain built for it. Err is why it could not be built.
type Binary struct {
	Path string
	Err  error
}

// RunMain is a test package's TestMain: it builds tierfs into a
// temporary directory named after prefix (unless TIERFS_BIN names a
// prebuilt one), runs the tests and exits with their code.
func RunMain(m *testing.M, prefix string, bin *Binary) {
	dir, err := os.MkdirTemp("", prefix+"-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if bin.Path = os.Getenv("TIERFS_BIN"); bin.Path == "" {
		bin.Path = filepath.Join(dir, "tierfs")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin.Path, "github.com/tierfs/tierfs/cmd/tierfs").CombinedOutput()
		cancel()
		if err != nil {
			bin.Err = fmt.Errorf("build tierfs: %w: %s", err, out)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// OpenDir returns a new directory, removed at the test's end, that
// Dovecot's unprivileged processes can traverse; prefix keeps it short
// enough for socket paths.
func OpenDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
