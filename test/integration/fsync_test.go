package integration

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee 7: fsync and fdatasync succeed on files (opened for writing and
// read-only) and on directories opened O_RDONLY, and the synced data is in
// the backing file on the tier that holds it.
func TestFsync(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "dovecot-uidlist")
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		mustWriteFd(t, fd, "3 V1234 N5\n")
		if err := unix.Fsync(fd); err != nil {
			t.Errorf("fsync of a file: %s", errName(err))
		}
		if err := unix.Fdatasync(fd); err != nil {
			t.Errorf("fdatasync of a file: %s", errName(err))
		}
		ro, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(ro)
		if err := unix.Fsync(ro); err != nil {
			t.Errorf("fsync of a read-only file descriptor: %s", errName(err))
		}
		dirs := []string{tg.dir, filepath.Dir(tg.dir)}
		for _, d := range dirs {
			dfd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Fsync(dfd); err != nil {
				t.Errorf("fsync of directory %s opened O_RDONLY: %s", d, errName(err))
			}
			if err := unix.Fdatasync(dfd); err != nil {
				t.Errorf("fdatasync of directory %s opened O_RDONLY: %s", d, errName(err))
			}
			unix.Close(dfd)
		}
		if tg.fx == nil {
			return
		}
		backing, err := os.ReadFile(tg.fx.tierPath(tg.tier, tg.rel+"/dovecot-uidlist"))
		if err != nil || string(backing) != "3 V1234 N5\n" {
			t.Errorf("backing file on tier %s after fsync: %q (%v)", tg.tier, backing, err)
		}
	})
}
