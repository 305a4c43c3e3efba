package slowfs

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
)

func mountForTest(t *testing.T, o Options) (backing, mnt string, srv *Server) {
	t.Helper()
	fusetest.Require(t)
	dir := t.TempDir()
	backing, mnt = filepath.Join(dir, "backing"), filepath.Join(dir, "mnt")
	for _, p := range []string{backing, mnt} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := Mount(backing, mnt, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return backing, mnt, srv
}

func TestMountDelaysMetadataAndFsync(t *testing.T) {
	const delay, fsyncDelay = 3 * time.Millisecond, 10 * time.Millisecond
	backing, mnt, srv := mountForTest(t, Options{Delay: delay, FsyncDelay: fsyncDelay})

	start := time.Now()
	_, err := os.Stat(filepath.Join(mnt, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat missing: err = %v, want ENOENT", err)
	}
	if got := time.Since(start); got < delay {
		t.Errorf("stat of a missing name took %v, want at least the %v lookup delay", got, delay)
	}

	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < fsyncDelay {
		t.Errorf("fsync took %v, want at least %v", got, fsyncDelay)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "f"), filepath.Join(mnt, "g")); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(filepath.Join(backing, "g"))
	if err != nil || string(data) != "hello" {
		t.Fatalf("backing file g = %q, %v; want \"hello\"", data, err)
	}
	counts := srv.Counts()
	for _, op := range []string{"lookup", "create", "fsync", "rename"} {
		if counts[op] == 0 {
			t.Errorf("no %s counted; counts = %v", op, counts)
		}
	}
}

func TestMountReaddirBatches(t *testing.T) {
	backing, mnt, srv := mountForTest(t, Options{Delay: time.Millisecond})
	const n = 3*readdirBatch + 1
	for i := range n {
		if err := os.WriteFile(filepath.Join(backing, "e"+strconv.Itoa(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Fatalf("readdir returned %d entries, want %d", len(ents), n)
	}
	// n entries in batches of readdirBatch: at least 4 round trips.
	if got := srv.Counts()["readdir"]; got < 4 {
		t.Errorf("readdir round trips = %d, want >= 4 for %d entries", got, n)
	}
}

// TestMountStatxIsDelayed: asking for the birth time makes the kernel
// send STATX rather than GETATTR; it must cost the same round trip.
func TestMountStatxIsDelayed(t *testing.T) {
	const delay = 3 * time.Millisecond
	_, mnt, srv := mountForTest(t, Options{Delay: delay, AttrTimeout: time.Minute, EntryTimeout: time.Minute})
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Refresh the directory's attributes (the create invalidated them),
	// so that only the statx itself reaches the daemon.
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	before := srv.Counts()["getattr"]
	var sx unix.Statx_t
	start := time.Now()
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < delay {
		t.Errorf("statx took %v, want at least the %v delay", got, delay)
	}
	if got := srv.Counts()["getattr"] - before; got != 1 {
		t.Errorf("statx counted %d getattr calls, want 1", got)
	}
	if sx.Size != 1 {
		t.Errorf("statx size = %d, want 1", sx.Size)
	}
}

// TestMountNegativeCache: with NegativeTimeout, a name found missing
// is not asked for again by a second stat, as an NFS client would not.
// An exclusive create still looks the name up: FUSE revalidates a
// negative entry for O_EXCL and rename targets, where NFS skips the
// LOOKUP altogether.
func TestMountNegativeCache(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		neg                  time.Duration
		statLookups, crLooks uint64
	}{
		{"off", 0, 1, 1},
		{"on", time.Minute, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backing, mnt, srv := mountForTest(t, Options{NegativeTimeout: tc.neg, AttrTimeout: time.Minute, EntryTimeout: time.Minute})
			p := filepath.Join(mnt, "new")
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("first stat: %v, want ENOENT", err)
			}
			before := srv.Counts()["lookup"]
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("second stat: %v, want ENOENT", err)
			}
			if got := srv.Counts()["lookup"] - before; got != tc.statLookups {
				t.Errorf("lookups for the second stat = %d, want %d", got, tc.statLookups)
			}
			before = srv.Counts()["lookup"]
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got := srv.Counts()["lookup"] - before; got != tc.crLooks {
				t.Errorf("lookups for the exclusive create = %d, want %d", got, tc.crLooks)
			}
			if _, err := os.Stat(filepath.Join(backing, "new")); err != nil {
				t.Errorf("created file missing from the backing directory: %v", err)
			}
		})
	}
}

// TestMountTmpfileIsDelayed: an O_TMPFILE open creates an inode on the
// server and costs a create's round trip.
func TestMountTmpfileIsDelayed(t *testing.T) {
	const delay = 3 * time.Millisecond
	_, mnt, srv := mountForTest(t, Options{Delay: delay, AttrTimeout: time.Minute, EntryTimeout: time.Minute})
	if _, err := os.Stat(mnt); err != nil {
		t.Fatal(err)
	}
	before := srv.Counts()["create"]
	start := time.Now()
	fd, err := unix.Open(mnt, unix.O_TMPFILE|unix.O_WRONLY, 0o600)
	if (err == unix.EOPNOTSUPP || err == unix.ENOSYS) && os.Getenv("TIERFS_REQUIRE_INTEGRATION") != "1" {
		t.Skipf("the kernel does not offer O_TMPFILE on FUSE: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	defer unix.Close(fd)
	if n, err := unix.Write(fd, []byte("tmp")); err != nil || n != 3 {
		t.Fatalf("write to the O_TMPFILE file: %d, %v", n, err)
	}
	if elapsed < delay {
		t.Errorf("O_TMPFILE open took %v, want at least the %v delay", elapsed, delay)
	}
	if got := srv.Counts()["create"] - before; got != 1 {
		t.Errorf("O_TMPFILE open counted %d creates, want 1", got)
	}
}

// With UserXattrsOnly the mount holds user.* attributes only, as a Linux
// NFS client does, and lists only those.
func TestUserXattrsOnly(t *testing.T) {
	backing, mnt, _ := mountForTest(t, Options{UserXattrsOnly: true})
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(backing, "f"), "trusted.hidden", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want error
	}{
		{"user.flag", nil},
		{"trusted.flag", unix.EOPNOTSUPP},
		{"security.flag", unix.EOPNOTSUPP},
	}
	for _, tc := range tests {
		if err := unix.Setxattr(p, tc.name, []byte("v"), 0); !errors.Is(err, tc.want) {
			t.Errorf("setxattr %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := unix.Getxattr(p, "trusted.hidden", nil); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("getxattr of a trusted.* attribute the backing file has: %v, want EOPNOTSUPP", err)
	}
	buf := make([]byte, 256)
	n, err := unix.Listxattr(p, buf)
	if err != nil || string(buf[:n]) != "user.flag\x00" {
		t.Errorf("listxattr: %q (%v), want only user.flag", buf[:max(n, 0)], err)
	}
}
