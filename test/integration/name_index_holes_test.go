package integration

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireName fails the test unless rel is found through the mount.
func requireName(t *testing.T, fx *fixture, rel, why string) {
	t.Helper()
	if err := unix.Lstat(fx.path(rel), new(unix.Stat_t)); err != nil {
		t.Fatalf("%s: %s %s (the name index lacks a name its directory holds)", rel, errName(err), why)
	}
}

// missesIn looks up names missing from the open directory dfd, expecting
// ENOENT.
func missesIn(t *testing.T, dfd int, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := unix.Fstatat(dfd, name, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW); !errors.Is(err, unix.ENOENT) {
			t.Fatalf("lstat %s: %s, want ENOENT", name, errName(err))
		}
	}
}

// A directory renamed while tierfs lists it for its name index must not
// keep, as its index, the listing of the path it left: an empty one (the
// path is gone, or another directory took it) would hide every file the
// directory took along. The listing is made after a second miss, or by a
// readdir through the mount.
func TestNameIndexListingRacingDirRename(t *testing.T) {
	for _, c := range []struct {
		name   string
		list   func(fx *fixture, dfd int)
		retake bool // make a new n/a while the listing waits
	}{
		{"second miss", func(fx *fixture, dfd int) {
			unix.Fstatat(dfd, "missing-1", new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW)
		}, false},
		{"readdir", func(fx *fixture, dfd int) {
			f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", dfd))
			if err == nil {
				f.ReadDir(-1)
				f.Close()
			}
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := mountTierfs(t, nameIndexConfig())
			fx.mkdirAll(t, "n/a")
			fx.writeFile(t, "n/a/msg", "mail")
			fx.unmount(t)
			fx.mount(t, "TIERFS_PAUSEPOINT=name-index-list:1500ms") // nothing listed or missed yet
			// n's index first, so that its misses below do not pause.
			if _, err := os.ReadDir(fx.path("n")); err != nil {
				t.Fatal(err)
			}
			dfd, err := unix.Open(fx.path("n/a"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dfd)
			missesIn(t, dfd, "missing-0")
			listed := make(chan struct{})
			go func() {
				defer close(listed)
				c.list(fx, dfd) // paused in the listing
			}()
			time.Sleep(300 * time.Millisecond)
			if err := os.Rename(fx.path("n/a"), fx.path("n/b")); err != nil {
				t.Fatal(err)
			}
			if c.retake {
				if err := os.Mkdir(fx.path("n/a"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			<-listed
			requireName(t, fx, "n/b/msg", "after its directory was renamed during a listing")
		})
	}
}

// A name the tier reports as existing when tierfs creates it (a
// retransmitted NFS MKDIR or LINK answers EEXIST for the name the first
// one made) exists: the create's error must not leave it out of the
// index. The name is put on the tier behind tierfs's back to stand for
// the request whose reply was lost.
func TestNameIndexCreateFailingWithEEXIST(t *testing.T) {
	fx := mountTierfs(t, nameIndexConfig())
	fx.mkdirAll(t, "n/box")
	fx.writeFile(t, "n/box/m1", "x")
	if _, err := os.ReadDir(fx.path("n/box")); err != nil { // builds the index
		t.Fatal(err)
	}
	if err := os.Mkdir(fx.tierPath("slow", "n/box/cur"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(fx.path("n/box/cur"), 0o755); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("mkdir n/box/cur: %v, want EEXIST", err)
	}
	requireName(t, fx, "n/box/cur", "after mkdir answered EEXIST")
	if err := os.WriteFile(fx.tierPath("slow", "n/box/m2"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(fx.path("n/box/m1"), fx.path("n/box/m2")); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("link n/box/m2: %v, want EEXIST", err)
	}
	requireName(t, fx, "n/box/m2", "after link answered EEXIST")
}

// A directory's inode number comes from the copy on the first tier of
// its path's rule order unless that copy carries the directory's kept
// identity, which a tier on NFS cannot hold (trusted.* attributes). So a
// directory made on fast, with a copy on NFS, gets another node when it
// is renamed to a path where NFS comes first, and the first node again,
// if the kernel still holds it (here an open descriptor; for Dovecot, an
// IDLE session's inotify watch), when renamed back. A node missed every
// change made through the other one: its index must not answer.
func TestNameIndexDirectoryNodeComingBack(t *testing.T) {
	cfg := nameIndexConfig()
	cfg.Tiers[1].Backing = "nfs"
	cfg.Rules = append([]ruleSpec{{"m/**/*.slow", "slow"}}, cfg.Rules...)
	fx := mountTierfs(t, cfg)
	fx.mkdirAll(t, "n")
	fx.mkdirAll(t, "m/d")              // on fast
	fx.writeFile(t, "m/d/y.slow", "y") // a copy on NFS, without the kept identity
	// NFS comes first at n/d.
	if err := os.Rename(fx.path("m/d"), fx.path("n/d")); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(fx.path("n/d"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.ReadDir(-1); err != nil { // builds the index of n/d's node
		t.Fatal(err)
	}
	if err := os.Rename(fx.path("n/d"), fx.path("m/d")); err != nil {
		t.Fatal(err)
	}
	var before, after unix.Stat_t
	if err := unix.Fstat(int(held.Fd()), &before); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(fx.path("m/d"), &after); err != nil {
		t.Fatal(err)
	}
	if before.Ino == after.Ino {
		t.Fatalf("premise: m/d keeps inode %d (fast is first in its order)", after.Ino)
	}
	fx.writeFile(t, "m/d/msg", "mail")
	if err := os.Rename(fx.path("m/d"), fx.path("n/d")); err != nil {
		t.Fatal(err)
	}
	requireName(t, fx, "n/d/msg", "once n/d's first node is back")
	if err := unix.Lstat(fx.path("n/d"), &after); err != nil || after.Ino != before.Ino {
		t.Logf("premise: n/d has inode %d (%v), the held node %d", after.Ino, err, before.Ino)
	}
}
