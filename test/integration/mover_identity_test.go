package integration

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A file moved off a tier keeps its inode number, and the tier may give
// the freed backing inode to the next file born there, so two files show
// one number (Known limits). They must still be two files through the
// mount: the node generation tells them apart, also where the tiers
// record no birth time (ext4 with 128-byte inodes), and after a remount,
// when each is looked up afresh. Before the generation was kept with the
// number, both were one node to go-fuse and one of them read as the
// other or failed with ENOENT.
func TestMovedFileAndNewFileSharingNumber(t *testing.T) {
	cfg := mvConfig("")
	cfg.Tiers[1].Backing, cfg.Tiers[2].Backing = "ext4-nobtime", "ext4-nobtime" // fast, slow
	fx := mountTierfs(t, cfg)
	old := mvUserDir + "/cur/old"
	oldData := mvContent(old, 3000)
	mvWrite(t, fx, old, oldData, 40*24*time.Hour)
	if btime(t, fx.tierPath("fast", old)) {
		t.Fatal("premise: the fast tier records birth times")
	}
	freed := backingIno(t, fx.tierPath("fast", old))
	if r := mvMigrate(t, fx); r.Files != 1 {
		t.Fatalf("premise: the pass moved %d files, want 1", r.Files)
	}
	fx.requireOnTier(t, old, "slow")

	want := map[string][]byte{old: oldData}
	var fresh string
	for i := 0; i < 20 && fresh == ""; i++ {
		p := fmt.Sprintf("%s/cur/fresh%d", mvUserDir, i)
		want[p] = mvContent(p, 100+i)
		mvWrite(t, fx, p, want[p], 0)
		if got := backingIno(t, fx.tierPath("fast", p)); got == freed {
			fresh = p
		} else {
			t.Logf("%s: inode %d", p, got)
		}
	}
	if fresh == "" {
		t.Fatalf("premise: no new file on fast got the freed inode %d", freed)
	}
	fx.unmount(t)
	fx.mount(t)
	for _, p := range []string{fresh, old} { // the newer one first: its node was there first
		got, err := os.ReadFile(fx.path(p))
		if err != nil || !bytes.Equal(got, want[p]) {
			t.Errorf("%s: read %d bytes %q…, err %v; want %d bytes %q…", p, len(got), head(string(got)), err, len(want[p]), head(string(want[p])))
		}
	}
	if tier := getxattr(t, fx.path(old), "user.tierfs.tier"); tier != "slow" {
		t.Errorf("where %s = %q, want slow", old, tier)
	}
	if tier := getxattr(t, fx.path(fresh), "user.tierfs.tier"); tier != "fast" {
		t.Errorf("where %s = %q, want fast", fresh, tier)
	}
}

func btime(t *testing.T, p string) bool {
	t.Helper()
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &sx); err != nil {
		t.Fatal(err)
	}
	return sx.Mask&unix.STATX_BTIME != 0
}

func backingIno(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
