package fs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// A mount that fails after the mount system call (here: the mount point
// is a regular file, which the kernel mounts over but no lookup below it
// can work) is removed again, not left answering ENOTCONN.
func TestServeRemovesFailedMount(t *testing.T) {
	if os.Geteuid() != 0 || !fileExists("/dev/fuse") {
		if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("needs root and /dev/fuse")
		}
		t.Skip("needs root and /dev/fuse")
	}
	mp := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(mp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for mounted(t, mp) {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
				t.Errorf("cleanup: %v", err)
				return
			}
		}
	})
	srv, err := serve(fuse.NewDefaultRawFileSystem(), nil, mp, fuse.MountOptions{Name: "tierfs-test", DirectMountStrict: true})
	if err == nil {
		srv.Unmount()
		t.Fatalf("serve on the regular file %s succeeded", mp)
	}
	if !strings.Contains(err.Error(), mp) {
		t.Errorf("serve error %q does not name the mount point %s", err, mp)
	}
	if mounted(t, mp) {
		t.Errorf("a mount is left on %s after serve failed with %v", mp, err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mounted reports whether /proc/self/mountinfo lists a mount on p.
func mounted(t *testing.T, p string) bool {
	t.Helper()
	ms, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.MountPoint == p {
			return true
		}
	}
	return false
}
