package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pastTime is a timestamp far from now with all nanosecond digits used, so
// a value that was truncated, rounded or not stored at all shows.
func pastTime() unix.Timespec {
	return unix.NsecToTimespec(time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC).UnixNano())
}

// Guarantee 8: atime and mtime of files and directories are settable to the
// nanosecond, and UTIME_OMIT leaves a time alone.
func TestUtimensFilesAndDirectories(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		past := pastTime()
		f := filepath.Join(tg.dir, "f")
		mustWrite(t, f, "x")
		atime := unix.NsecToTimespec(past.Nano() + 1)
		for _, p := range []string{f, tg.dir} {
			setTimes(t, p, atime, past)
			st := lstat(t, p)
			if st.Mtim != past || st.Atim != atime {
				t.Errorf("%s: after utimens atime %v mtime %v, want %v %v", p, st.Atim, st.Mtim, atime, past)
			}
			later := unix.NsecToTimespec(past.Nano() + 1e9 + 7)
			setTimes(t, p, unix.Timespec{Nsec: unix.UTIME_OMIT}, later)
			st = lstat(t, p)
			if st.Mtim != later || st.Atim != atime {
				t.Errorf("%s: after utimens with UTIME_OMIT atime: atime %v mtime %v, want %v %v", p, st.Atim, st.Mtim, atime, later)
			}
		}
	})
}

// Guarantee 8: ctime is the time of the last change, not a copy of mtime,
// and a write moves mtime.
func TestCtimeAndWriteMtime(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		past := pastTime()
		start := time.Now()
		f := filepath.Join(tg.dir, "f")
		mustWrite(t, f, "x")
		setTimes(t, f, past, past)
		st := lstat(t, f)
		checkRecent(t, "ctime after utimens", st.Ctim, start)
		before := st.Ctim
		if err := unix.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
		if st = lstat(t, f); tsLess(st.Ctim, before) {
			t.Errorf("ctime went back after chmod: %v < %v", st.Ctim, before)
		}
		mustWrite(t, f, "changed")
		st = lstat(t, f)
		if st.Mtim == past {
			t.Errorf("mtime unchanged by a write")
		}
		checkRecent(t, "mtime after a write", st.Mtim, start)
	})
}

// A chown to the file's own owner changes nothing but ctime, and it
// reaches the tier: it is how Dovecot's mail_nfs_storage and
// mail_nfs_index flush an NFS client's attribute cache, so through
// tierfs it must become a chown on the tier's NFS client, not be
// answered from what tierfs knows.
func TestChownToOwnerReachesTier(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		f := filepath.Join(tg.dir, "f")
		mustWrite(t, f, "x")
		past := pastTime()
		setTimes(t, f, past, past)
		before := lstat(t, f)
		var tierBefore unix.Stat_t
		if tg.fx != nil {
			tierBefore = lstat(t, tg.fx.tierPath(tg.tier, tg.rel+"/f"))
		}
		time.Sleep(20 * time.Millisecond) // past the ctime clock's tick
		if err := unix.Chown(f, int(before.Uid), -1); err != nil {
			t.Fatal(err)
		}
		after := lstat(t, f)
		if !tsLess(before.Ctim, after.Ctim) {
			t.Errorf("ctime %v after the chown, was %v: want it moved", after.Ctim, before.Ctim)
		}
		if after.Uid != before.Uid || after.Gid != before.Gid || after.Mode != before.Mode || after.Mtim != past {
			t.Errorf("chown to the owner changed more than ctime: %+v, was %+v", after, before)
		}
		if tg.fx == nil {
			return
		}
		tierAfter := lstat(t, tg.fx.tierPath(tg.tier, tg.rel+"/f"))
		if !tsLess(tierBefore.Ctim, tierAfter.Ctim) {
			t.Errorf("ctime of the tier's copy %v after the chown, was %v: the chown did not reach tier %s", tierAfter.Ctim, tierBefore.Ctim, tg.tier)
		}
	})
}

// Guarantee 8: a directory's nanosecond mtime changes on every entry
// added, removed or renamed, also when the directory exists on several
// tiers and the entry is on any of them. Before each operation the
// directory's mtime is set into the past, so the check does not depend on
// the clock's granularity.
func TestDirectoryMtimeChanges(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		past := pastTime()
		d := tg.dir
		other := filepath.Join(d, "other")
		if err := unix.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, sfx := range []string{"", ".tmp", ".slow"} {
			n := func(s string) string { return filepath.Join(d, s+sfx) }
			ops := []struct {
				name string
				op   func() error
				dirs []string // directories whose mtime must change
			}{
				{"create", func() error { return writeErr(n("new"), "x") }, []string{d}},
				{"mkdir", func() error { return unix.Mkdir(n("dir"), 0o755) }, []string{d}},
				{"symlink", func() error { return unix.Symlink("new", n("sym")) }, []string{d}},
				{"link", func() error { return unix.Link(n("new"), n("hard")) }, []string{d}},
				{"rename within", func() error { return unix.Rename(n("new"), n("renamed")) }, []string{d}},
				{"rename over", func() error { return unix.Rename(n("sym"), n("hard")) }, []string{d}},
				{"rename out", func() error { return unix.Rename(n("hard"), filepath.Join(other, "moved"+sfx)) }, []string{d, other}},
				{"rename in", func() error { return unix.Rename(filepath.Join(other, "moved"+sfx), n("back")) }, []string{d, other}},
				{"unlink", func() error { return unix.Unlink(n("back")) }, []string{d}},
				{"rmdir", func() error { return unix.Rmdir(n("dir")) }, []string{d}},
			}
			for _, o := range ops {
				start := time.Now()
				for _, dir := range o.dirs {
					setTimes(t, dir, past, past)
					if got := lstat(t, dir).Mtim; got != past {
						t.Fatalf("premise: could not set %s mtime to %v (got %v)", dir, past, got)
					}
				}
				if err := o.op(); err != nil {
					t.Fatalf("%s%s: %v", o.name, sfx, err)
				}
				for _, dir := range o.dirs {
					got := lstat(t, dir).Mtim
					if got == past {
						t.Errorf("%s of %q: mtime of %s did not change", o.name, "*"+sfx, dir)
						continue
					}
					checkRecent(t, fmt.Sprintf("%s of %q: mtime of %s", o.name, "*"+sfx, dir), got, start)
				}
			}
		}
	})
}

func setTimes(t testing.TB, p string, atime, mtime unix.Timespec) {
	t.Helper()
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{atime, mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("utimensat %s: %v", p, err)
	}
}

// checkRecent fails unless ts lies between start (less a second of slack
// for coarse filesystem clocks) and now (plus a second).
func checkRecent(t testing.TB, what string, ts unix.Timespec, start time.Time) {
	t.Helper()
	got := time.Unix(ts.Unix())
	if got.Before(start.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("%s is %v, want a time since %v", what, got, start)
	}
}

func tsLess(a, b unix.Timespec) bool { return a.Nano() < b.Nano() }

func writeErr(p, content string) error {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = unix.Write(fd, []byte(content))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}
