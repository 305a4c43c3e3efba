package slowfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// near fails unless got is within a few seconds of want (the attribute
// cache and a loaded machine stand between them).
func near(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d.Abs() > 3*time.Second {
		t.Errorf("%s: %v, want about %v (off by %v)", what, got, want, d)
	}
}

func mtimeOf(t *testing.T, p string) time.Time {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return time.Unix(st.Mtim.Unix())
}

// With -clock-offset, the emulated server stamps files with its own
// clock: a created file and one touched to "now" show the server's time
// (in stat and statx), while times a client sets read back as set; the
// backing directory holds this host's times.
func TestClockOffset(t *testing.T) {
	const offset = 90 * time.Second
	o := DefaultOptions()
	o.Delay, o.FsyncDelay, o.AttrTimeout, o.EntryTimeout, o.ClockOffset = 0, 0, 0, 0, offset
	backing, mnt, _ := mountForTest(t, o)
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	near(t, "mtime of a new file", mtimeOf(t, p), now.Add(offset))
	near(t, "mtime in the backing directory", mtimeOf(t, filepath.Join(backing, "f")), now)
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &stx); err != nil {
		t.Fatal(err)
	}
	near(t, "statx mtime", time.Unix(stx.Mtime.Sec, int64(stx.Mtime.Nsec)), now.Add(offset))

	set := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := os.Chtimes(p, set, set); err != nil {
		t.Fatal(err)
	}
	if got := mtimeOf(t, p); !got.Equal(set) {
		t.Errorf("mtime set to %v reads back %v", set, got)
	}
	if got := mtimeOf(t, filepath.Join(backing, "f")); !got.Equal(set.Add(-offset)) {
		t.Errorf("backing mtime after a set: %v, want %v", got, set.Add(-offset))
	}

	touch := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, touch, 0); err != nil {
		t.Fatal(err)
	}
	near(t, "mtime touched to now", mtimeOf(t, p), time.Now().Add(offset))
}
