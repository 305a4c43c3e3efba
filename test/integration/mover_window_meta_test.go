package integration

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A change of a file's metadata through the mount while a move holds the
// file in its copy or commit window must be what the mount shows
// afterwards: it either makes the move give up (the source changed) or
// waits for the commit and then changes the moved file. A change made to
// the source while the copy is already in place would be lost with the
// source.
func TestMoverWindowMetadata(t *testing.T) {
	points := []string{"move-after-copy", "move-after-rename"}
	ops := []struct {
		name  string
		do    func(p string) error
		check func(p string) error // what the mount must show afterwards
	}{
		{"removexattr", func(p string) error { return unix.Lremovexattr(p, "user.flags") }, func(p string) error {
			if _, err := unix.Lgetxattr(p, "user.flags", make([]byte, 64)); err != unix.ENODATA {
				return fmt.Errorf("getxattr user.flags: %v, want ENODATA after its removal", err)
			}
			return nil
		}},
		{"setxattr", func(p string) error { return unix.Lsetxattr(p, "user.flags", []byte("new"), 0) }, func(p string) error {
			buf := make([]byte, 64)
			n, err := unix.Lgetxattr(p, "user.flags", buf)
			if err != nil || string(buf[:n]) != "new" {
				return fmt.Errorf("getxattr user.flags: %q, %v; want \"new\"", buf[:max(n, 0)], err)
			}
			return nil
		}},
		{"chmod", func(p string) error { return unix.Chmod(p, 0o600) }, func(p string) error {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil || st.Mode&0o7777 != 0o600 {
				return fmt.Errorf("mode %#o (%v), want 0600", st.Mode&0o7777, err)
			}
			return nil
		}},
		{"utimes", func(p string) error {
			return unix.UtimesNano(p, []unix.Timespec{{Sec: 1e9}, {Sec: 1e9, Nsec: 5}})
		}, func(p string) error {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil || st.Mtim != (unix.Timespec{Sec: 1e9, Nsec: 5}) {
				return fmt.Errorf("mtime %v (%v), want 1e9.5", st.Mtim, err)
			}
			return nil
		}},
	}
	for _, point := range points {
		for _, op := range ops {
			t.Run(point+"/"+op.name, func(t *testing.T) {
				f := newFixture(t, mvConfig(""))
				f.mount(t, "TIERFS_PAUSEPOINT="+point+":300ms")
				rel := mvMisplaced(t, f, "doc", mvContent("doc", 64<<10)) // on fast; its rule says slow
				if err := unix.Lsetxattr(f.path(rel), "user.flags", []byte("old"), 0); err != nil {
					t.Fatal(err)
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					mvMigrateErr(f)
				}()
				waitFor(t, "the move reached "+point, func() bool { return pausedAt(f, point) })
				if err := op.do(f.path(rel)); err != nil {
					t.Fatalf("%s during the move: %v", op.name, err)
				}
				<-done
				if err := op.check(f.path(rel)); err != nil {
					t.Errorf("after the pass: %v (on tiers %v)", err, f.tiersHolding(rel))
				}
				f.unmount(t)
				f.mount(t)
				if err := op.check(f.path(rel)); err != nil {
					t.Errorf("after a remount: %v (on tiers %v)", err, f.tiersHolding(rel))
				}
			})
		}
	}
}

// pausedAt reports whether the daemon has logged reaching pause point.
func pausedAt(f *fixture, point string) bool {
	return strings.Contains(f.d.log(), `msg="pause point reached" point=`+point+" ")
}
