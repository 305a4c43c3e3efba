// Package loopfs holds what tests that loop-mount filesystem images
// share: a btrfs filesystem of its own, and subvolumes in it.
package loopfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// btrfsSize is the sparse image's size: mkfs.btrfs refuses much less
// (about 114 MiB) without --mixed, and a sparse file costs only what is
// written.
const btrfsSize = 256 << 20

// Require skips t unless it runs as root with the named programs, or
// fails it when TIERFS_REQUIRE_INTEGRATION=1 (as CI sets it) demands
// the test run.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); why == "" && err != nil {
			why = "needs " + p + " (Debian: btrfs-progs for mkfs.btrfs and btrfs): " + err.Error()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Btrfs makes a fresh btrfs filesystem in a sparse image and
// loop-mounts it on dir (which must exist). At the end of the test it
// is unmounted, its loop device detached and the image removed.
func Btrfs(t testing.TB, dir string) {
	t.Helper()
	Require(t, "mkfs.btrfs", "btrfs", "losetup")
	img := filepath.Join(t.TempDir(), "btrfs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, btrfsSize); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.btrfs", "-q", "-f", img)
	// mount(8) sets up the loop device with autoclear: the unmount
	// detaches it.
	run(t, "mount", "-t", "btrfs", "-o", "loop", img, dir)
	t.Cleanup(func() { unmount(t, dir, img) })
}

// Subvolume creates a btrfs subvolume at path.
func Subvolume(t testing.TB, path string) {
	t.Helper()
	run(t, "btrfs", "-q", "subvolume", "create", path)
}

// unmount unmounts dir (lazily if it is busy) and detaches any loop
// device still backed by img.
func unmount(t testing.TB, dir, img string) {
	t.Helper()
	if err := unix.Unmount(dir, 0); err != nil {
		t.Logf("umount %s: %v; detaching lazily", dir, err)
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("umount -l %s: %v", dir, err)
		}
	}
	out, err := exec.Command("losetup", "-n", "-O", "NAME", "-j", img).Output()
	if err != nil {
		t.Errorf("losetup -j %s: %v", img, err)
		return
	}
	for _, dev := range strings.Fields(string(out)) {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
