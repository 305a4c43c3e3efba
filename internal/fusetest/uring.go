package fusetest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fuseuring"
)

// SetURing sets the fuse module's enable_uring for the rest of t and
// restores it afterwards. go test runs packages in parallel and the
// parameter is the machine's, so t holds a lock on it meanwhile: tests
// of other packages that set it wait. The parameter only lets servers
// ask for io_uring at INIT; servers mounted meanwhile that do not ask
// (go-fuse's, libfuse's) are not affected. A kernel without the
// parameter skips t, or fails it under TIERFS_REQUIRE_INTEGRATION=1.
func SetURing(t testing.TB, on bool) {
	t.Helper()
	if _, err := os.Stat(fuseuring.EnableParam); err != nil {
		if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("kernel without FUSE over io_uring: %v", err)
		}
		t.Skipf("kernel without FUSE over io_uring: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "tierfs-test-enable-uring.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // releases the lock, after the restore below
	old, err := os.ReadFile(fuseuring.EnableParam)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(old, []byte("Y")) == on {
		return
	}
	restore, err := fuseuring.SetEnabled(on)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Errorf("restore %s: %v", fuseuring.EnableParam, err)
		}
	})
}
