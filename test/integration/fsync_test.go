package integration

import (
	"fmt"
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

// With passthrough the kernel writes through its own backing file, so the
// daemon never sees the WRITEs; fsync must still reach it (and the tier)
// as a FUSE FSYNC.
func TestFsyncReachesDaemon(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "mail/alice/tmp")
	fd, err := unix.Open(fx.path("mail/alice/tmp/msg"), unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mustWriteFd(t, fd, "Subject: x\n")
	for _, sync := range []struct {
		name string
		fn   func(int) error
	}{{"fsync", unix.Fsync}, {"fdatasync", unix.Fdatasync}} {
		before := fx.requests(t)["FSYNC"]
		if err := sync.fn(fd); err != nil {
			t.Fatalf("%s: %s", sync.name, errName(err))
		}
		if got := fx.requests(t)["FSYNC"] - before; got != 1 {
			t.Errorf("%s after a write through the mount: %d FSYNC requests reached tierfs, want 1", sync.name, got)
		}
	}
}

// fsync of a directory present on several tiers syncs every copy: a
// rename into cur/ on one tier is durable only if that tier's copy of
// cur/ is synced, whichever tier created the directory.
func TestFsyncDirEveryCopy(t *testing.T) {
	f, sock := mountWithMetrics(t)
	f.mkdirAll(t, "span/cur") // on fast, by the ** rule
	f.writeFile(t, "span/cur/1.slow", "x")
	f.requireOnTier(t, "span/cur/1.slow", "slow")
	for _, tier := range []string{"fast", "slow"} {
		if !fileExists(f.tierPath(tier, "span/cur")) {
			t.Fatalf("premise: span/cur not on tier %s", tier)
		}
	}
	dfd, err := unix.Open(f.path("span/cur"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	before := opsScrape(t, sock)
	if err := unix.Fsync(dfd); err != nil {
		t.Fatalf("fsync of cur/: %s", errName(err))
	}
	after := opsScrape(t, sock)
	for _, tier := range []string{"fast", "slow"} {
		s := fmt.Sprintf(`tierfs_tier_operations_total{op="fsyncdir",tier=%q}`, tier)
		if d := after[s] - before[s]; d != 1 {
			t.Errorf("fsync of cur/ synced tier %s's copy %v times, want 1", tier, d)
		}
	}
}
