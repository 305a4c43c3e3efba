package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A shared directory host a holds open follows the directory, as an NFS
// client's open directory follows its file handle: once host b renamed
// it and made another directory of the old name, a's descriptor lists,
// stats and syncs the renamed directory, not the one at the old path
// now, and not ENOENT once nothing is there. A copy a made on another
// tier while the directory was open is listed too.
func TestClusterOpenDirFollowsRename(t *testing.T) {
	o := clusterOpts{sharedTimeout: "0s", rules: `[[rule]]
match = "public/**/*.slow"
tier = "slow"
`}
	sockDir, err := os.MkdirTemp("", "met")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "metrics.sock")
	withMetrics := o
	withMetrics.extra = fmt.Sprintf("[metrics]\nlisten = %q\n", "unix:"+sock)
	a := newClusterHost(t, "a", nil, withMetrics)
	b := newClusterHost(t, "b", a, o)
	a.mount(t)
	b.mount(t)

	a.mkdirAll(t, "public/box/sub")
	a.writeFile(t, "public/box/1", "one")
	if err := os.Chmod(a.path("public/box"), 0o750); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(a.path("public/box"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fd := int(d.Fd())
	a.writeFile(t, "public/box/2.slow", "two") // a copy on slow, made while open
	a.requireOnTier(t, "public/box/2.slow", "slow")
	requireOpenNames(t, fd, "public/box", b, "1", "2.slow", "sub")

	if err := unix.Rename(b.path("public/box"), b.path("public/moved")); err != nil {
		t.Fatal(err)
	}
	b.writeFile(t, "public/moved/3", "three")
	b.mkdirAll(t, "public/box")
	b.writeFile(t, "public/box/other", "x")
	b.writeFile(t, "public/box/other.slow", "y")
	time.Sleep(20 * time.Millisecond) // past a's entries, one kernel tick
	requireOpenNames(t, fd, "public/moved", b, "1", "2.slow", "3", "sub")
	requireOpenStat(t, d, b.path("public/moved"))

	for _, name := range []string{"other", "other.slow"} {
		if err := os.Remove(b.path("public/box/" + name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(b.path("public/box")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	before := opsScrape(t, sock)
	if err := d.Sync(); err != nil {
		t.Errorf("fsync of the renamed directory on a: %v", err)
	}
	after := opsScrape(t, sock)
	for _, tier := range []string{"fast", "slow"} {
		ops, errs := fsyncdirDelta(before, after, tier)
		if ops != 1 || errs != 0 {
			t.Errorf("fsync on a synced tier %s's copy %v times, %v failed; want once, without error", tier, ops, errs)
		}
	}
	requireOpenStat(t, d, b.path("public/moved"))
	requireOpenNames(t, fd, "public/moved", b, "1", "2.slow", "3", "sub")

	// Removed by b, it has no links, and reading it fails, as natively.
	if err := os.RemoveAll(b.path("public/moved")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		t.Fatalf("rewind: %v", err)
	}
	_, err = unix.Getdents(fd, make([]byte, 4096))
	requireErrno(t, "getdents of the open directory b removed", err, syscall.ENOENT)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 0 || st.Mode != unix.S_IFDIR|0o750 {
		t.Errorf("fstat of the open directory b removed: mode %#o nlink %d (%v), want mode 040750 and no links", st.Mode, st.Nlink, err)
	}
}

// requireOpenNames fails unless directory descriptor fd, rewound, lists
// want with the inode numbers host f shows for them in directory rel.
func requireOpenNames(t *testing.T, fd int, rel string, f *fixture, want ...string) {
	t.Helper()
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		t.Fatalf("rewind: %v", err)
	}
	names, inos := readNames(t, fd)
	if !slices.Equal(names, want) {
		t.Errorf("the open directory lists %v, want %v (those of %s)", names, want, rel)
		return
	}
	for i, name := range names {
		if st := lstat(t, f.path(rel+"/"+name)); st.Ino != inos[i] {
			t.Errorf("the open directory lists %s with d_ino %#x, %s/%s has st_ino %#x", name, inos[i], rel, name, st.Ino)
		}
	}
}

// requireOpenStat fails unless fstat of d describes directory p: inode
// number, mode, link count (its subdirectories) and mtime.
func requireOpenStat(t *testing.T, d *os.File, p string) {
	t.Helper()
	fi, err := d.Stat()
	if err != nil {
		t.Errorf("fstat of the open directory: %v", err)
		return
	}
	got, want := fi.Sys().(*syscall.Stat_t), lstat(t, p)
	gotMtime, wantMtime := time.Unix(int64(got.Mtim.Sec), int64(got.Mtim.Nsec)), time.Unix(int64(want.Mtim.Sec), int64(want.Mtim.Nsec))
	if got.Ino != want.Ino || got.Mode != want.Mode || uint64(got.Nlink) != uint64(want.Nlink) || !gotMtime.Equal(wantMtime) {
		t.Errorf("fstat of the open directory: ino %#x mode %#o nlink %d mtime %v; %s has ino %#x mode %#o nlink %d mtime %v",
			got.Ino, got.Mode, got.Nlink, gotMtime, p, want.Ino, want.Mode, want.Nlink, wantMtime)
	}
}

// fsyncdirDelta is how many fsyncdir calls on tier, and how many failed,
// the metrics counted between the scrapes before and after.
func fsyncdirDelta(before, after map[string]float64, tier string) (ops, errs float64) {
	ops = after[fmt.Sprintf(`tierfs_tier_operations_total{op="fsyncdir",tier=%q}`, tier)] -
		before[fmt.Sprintf(`tierfs_tier_operations_total{op="fsyncdir",tier=%q}`, tier)]
	for k, v := range after {
		if strings.HasPrefix(k, "tierfs_tier_errors_total{") && strings.Contains(k, `op="fsyncdir"`) && strings.Contains(k, fmt.Sprintf("tier=%q", tier)) {
			errs += v - before[k]
		}
	}
	return ops, errs
}
