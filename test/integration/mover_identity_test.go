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

// A rename that replaces a name the kernel knows: go-fuse moves the
// renamed node to that name only after the rename's handler returned,
// and a move that found the new file there just before must not take
// the replaced file's identity from the node still at the name. It gave
// the copy that identity, which the replaced file, alive under another
// name, still had: after a remount both names were one node, one of
// them reading as the other (TestCrashFuzz seed 5127, 5 of 128 runs).
func TestMoverRenamedOverBeforeTree(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	old, other, young := mvUserDir+"/cur/1.M1P1.h:2,S", mvUserDir+"/cur/keep", mvUserDir+"/tmp/2.M2P2.h"
	want := map[string][]byte{other: mvContent(other, 2000), old: mvContent(young, 3000)}
	mvWrite(t, f, old, want[other], 0) // stays on fast, with another name
	if err := os.Link(f.path(old), f.path(other)); err != nil {
		t.Fatal(err)
	}
	mvWrite(t, f, young, want[old], 40*24*time.Hour) // aged: a pass moves it to slow
	f.unmount(t)
	f.mount(t, "TIERFS_PAUSEPOINT=rename-done:3s")
	if _, err := os.Stat(f.path(old)); err != nil { // the kernel knows the name replaced
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- os.Rename(f.path(young), f.path(old)) }()
	waitLog(t, f, `msg="pause point reached" point=rename-done`)
	during := mvMigrate(t, f) // the tiers are renamed, the tree not yet
	select {
	case <-done:
		t.Fatal("premise: the rename returned before the pass ended")
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("rename: %v", err)
	}
	after := mvMigrate(t, f)
	t.Logf("pass during the rename: %d moved, skipped %v; after it: %d moved", during.Files, during.Skipped, after.Files)
	f.requireOnTier(t, old, "slow")
	f.unmount(t)
	f.mount(t)
	for _, p := range []string{old, other} {
		if got, err := os.ReadFile(f.path(p)); err != nil || !bytes.Equal(got, want[p]) {
			t.Errorf("%s after the remount: %d bytes %q…, err %v; want %d bytes %q…", p, len(got), head(string(got)), err, len(want[p]), head(string(want[p])))
		}
	}
	if a, b := mvIno(t, f, old), mvIno(t, f, other); a == b {
		t.Errorf("%s and %s, two files, both show inode %#x", old, other, a)
	}
}
