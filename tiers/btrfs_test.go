package tiers

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/loopfs"
)

// openMarked marks dir as a tier and opens it.
func openMarked(t testing.TB, name, dir string) *Tier {
	t.Helper()
	if _, err := WriteMarker(dir, name); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(Spec{Name: name, Path: dir, Kind: KindLocal}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// Two subvolumes of one btrfs filesystem (and a plain directory beside
// them) are one filesystem, though st_dev and f_fsid differ; another
// btrfs filesystem and a tmpfs are not.
func TestSameFilesystemBtrfs(t *testing.T) {
	loopfs.Require(t, "mkfs.btrfs", "btrfs", "losetup")
	base := t.TempDir()
	one, other, tmp := filepath.Join(base, "one"), filepath.Join(base, "other"), filepath.Join(base, "tmp")
	for _, d := range []string{one, other, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	loopfs.Btrfs(t, one)
	loopfs.Btrfs(t, other)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tierfs-test", tmp).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(tmp, 0); err != nil {
			t.Errorf("umount %s: %v", tmp, err)
		}
	})
	loopfs.Subvolume(t, filepath.Join(one, "fast"))
	loopfs.Subvolume(t, filepath.Join(one, "slow"))
	if err := os.Mkdir(filepath.Join(one, "plain"), 0o755); err != nil {
		t.Fatal(err)
	}
	fast := openMarked(t, "fast", filepath.Join(one, "fast"))
	slow := openMarked(t, "slow", filepath.Join(one, "slow"))
	plain := openMarked(t, "plain", filepath.Join(one, "plain"))
	otherFS := openMarked(t, "other", other)
	tmpfs := openMarked(t, "tmp", tmp)
	if fast.rootDev == slow.rootDev || fast.Space().Fsid == slow.Space().Fsid {
		t.Fatalf("premise: the subvolumes share st_dev %d or f_fsid %v: the test shows nothing", fast.rootDev, fast.Space().Fsid)
	}
	tests := []struct {
		a, b *Tier
		want bool
	}{
		{fast, slow, true},
		{fast, plain, true},
		{fast, fast, true},
		{fast, otherFS, false},
		{plain, otherFS, false},
		{fast, tmpfs, false},
	}
	for _, tt := range tests {
		for _, p := range [][2]*Tier{{tt.a, tt.b}, {tt.b, tt.a}} {
			if got := p[0].SameFilesystem(p[1]); got != tt.want {
				t.Errorf("%s.SameFilesystem(%s) = %v, want %v", p[0].Name, p[1].Name, got, tt.want)
			}
		}
	}
}
