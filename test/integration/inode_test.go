package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Guarantee 9: rename over an open file gives the path a new st_ino while
// the open descriptor keeps the old number and still reads the old bytes.
func TestRenameOverOpenFile(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		idx, tmp := filepath.Join(tg.dir, "dovecot.index"), filepath.Join(tg.dir, "dovecot.index.tmp")
		mustWrite(t, idx, "old bytes")
		fd, err := unix.Open(idx, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		oldIno := lstat(t, idx).Ino
		mustWrite(t, tmp, "new bytes, longer")
		newIno := lstat(t, tmp).Ino
		if oldIno == newIno {
			t.Fatalf("two live files share st_ino %d", oldIno)
		}
		if err := unix.Rename(tmp, idx); err != nil {
			t.Fatal(err)
		}
		if got := lstat(t, idx).Ino; got != newIno {
			t.Errorf("path after rename over it: st_ino %d, want the new file's %d (old was %d)", got, newIno, oldIno)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Ino != oldIno {
			t.Errorf("open descriptor after its path was replaced: st_ino %d (%v), want %d", st.Ino, err, oldIno)
		}
		if st.Nlink != 0 {
			t.Errorf("open descriptor after its path was replaced: st_nlink %d, want 0 (no names left)", st.Nlink)
		}
		if err := unix.Fchmod(fd, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 0 {
			t.Errorf("open descriptor after fchmod of a replaced file: st_nlink %d (%v), want 0", st.Nlink, err)
		}
		buf := make([]byte, 64)
		n, err := unix.Pread(fd, buf, 0)
		if err != nil || string(buf[:n]) != "old bytes" {
			t.Errorf("open descriptor after its path was replaced reads %q (%v), want %q", buf[:n], err, "old bytes")
		}
		mustContent(t, idx, "new bytes, longer")
	})
}

// Guarantee 9: st_ino is unique among live files and directories across
// all tiers, kept by rename, shared by hard links, reported the same by
// readdir (d_ino) and stat, and not a function of the path: a file that
// replaces an unlinked but still open file gets a new number.
func TestInodeNumbers(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		seen := map[uint64]string{}
		add := func(p string) {
			ino := lstat(t, p).Ino
			if prev, ok := seen[ino]; ok && prev != p {
				t.Errorf("st_ino %d of %s is also %s's", ino, p, prev)
			}
			seen[ino] = p
		}
		for i := range 30 {
			p := filepath.Join(tg.dir, fmt.Sprintf("f%d%s", i, []string{"", ".tmp", ".slow"}[i%3]))
			mustWrite(t, p, "x")
			add(p)
		}
		add(tg.dir)
		for _, d := range []string{"d1", "d2"} {
			if err := unix.Mkdir(filepath.Join(tg.dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
			add(filepath.Join(tg.dir, d))
		}
		// rename keeps the number
		a := filepath.Join(tg.dir, "f0")
		ino := lstat(t, a).Ino
		if err := unix.Rename(a, filepath.Join(tg.dir, "d1", "moved")); err != nil {
			t.Fatal(err)
		}
		if got := lstat(t, filepath.Join(tg.dir, "d1", "moved")).Ino; got != ino {
			t.Errorf("rename changed st_ino from %d to %d", ino, got)
		}
		// readdir and stat agree
		for _, e := range readDirents(t, tg.dir) {
			if e.name == "." || e.name == ".." {
				continue
			}
			if st := lstat(t, filepath.Join(tg.dir, e.name)); st.Ino != e.ino {
				t.Errorf("%s: d_ino %d but st_ino %d", e.name, e.ino, st.Ino)
			}
		}
		// a path re-created while the old file is open gets a new number
		p := filepath.Join(tg.dir, "f1.tmp")
		old := lstat(t, p).Ino
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Unlink(p); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, p, "new")
		if got := lstat(t, p).Ino; got == old {
			t.Errorf("re-created %s has the st_ino %d of the unlinked file that is still open", p, got)
		}
	})
}

// Guarantee 9: st_ino is stable for a file's life: after the kernel forgot
// the inodes (drop_caches) and after an unmount and a new mount.
func TestInodeStable(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	paths := []string{"volatile/t/a", "index/t/b", "mail/u/cur/c", "span/d/e.slow", "span/d/f"}
	want := map[string]uint64{}
	for _, p := range paths {
		fx.mkdirAll(t, filepath.Dir(p))
		fx.writeFile(t, p, p)
		want[p] = lstat(t, fx.path(p)).Ino
	}
	if err := unix.Link(fx.path("span/d/f"), fx.path("span/d/g")); err != nil {
		t.Fatal(err)
	}
	want["span/d/g"] = want["span/d/f"]
	check := func(when string) {
		t.Helper()
		for p, ino := range want {
			if got := lstat(t, fx.path(p)).Ino; got != ino {
				t.Errorf("%s: st_ino of %s is %d, was %d", when, p, got, ino)
			}
		}
	}
	dropCaches(t)
	check("after drop_caches")
	fx.unmount(t)
	fx.mount(t)
	check("after remount")
}

// A directory on several tiers is one directory: its st_ino, mode and
// extended attributes do not change when a copy appears on a tier that
// comes first in the rule order, when a rename gives it a name whose
// rule prefers another copy, or when it is renamed over a directory
// with a copy where it has none. Found by TestDifferentialOps.
func TestDirectoryAcrossTiersKeepsItself(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	cases := []struct {
		name     string
		dir      string   // made first (mode 0750, xattr user.k) on its rule's tier
		steps    []string // then: "create P", "mkdir P" or "rename P Q"
		final    string   // where dir is at the end
		tiersNow int      // premise: tiers holding final (0: not checked)
	}{
		{"copy on a tier first in order", "span/a1", []string{"create span/a1/x.slow", "rename span/a1 span/a1.slow"}, "span/a1.slow", 2},
		{"renamed to a name preferring a later copy", "span/a2.slow", []string{"create span/a2.slow/x", "rename span/a2.slow span/a2"}, "span/a2", 2},
		{"renamed over a directory on another tier", "span/a3", []string{"mkdir span/t3.slow", "rename span/a3 span/t3.slow"}, "span/t3.slow", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx.mkdirAll(t, filepath.Dir(c.dir))
			if err := unix.Mkdir(fx.path(c.dir), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := unix.Setxattr(fx.path(c.dir), "user.k", []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			ino := lstat(t, fx.path(c.dir)).Ino
			for _, s := range c.steps {
				dirStep(t, fx, s)
			}
			if got := fx.tiersHolding(c.final); c.tiersNow > 0 && len(got) != c.tiersNow {
				t.Fatalf("premise: %s on tiers %v, want %d", c.final, got, c.tiersNow)
			}
			dropCaches(t) // answered by a fresh LOOKUP
			st := lstat(t, fx.path(c.final))
			if st.Ino != ino || st.Mode&0o7777 != 0o750 {
				t.Errorf("%s: st_ino %#x mode %#o, want %#x 0750", c.final, st.Ino, st.Mode&0o7777, ino)
			}
			buf := make([]byte, 16)
			n, err := unix.Getxattr(fx.path(c.final), "user.k", buf)
			if err != nil || string(buf[:n]) != "v" {
				t.Errorf("%s: user.k: %q %s, want \"v\"", c.final, buf[:max(n, 0)], errName(err))
			}
		})
	}
}

// dirStep runs one step of TestDirectoryAcrossTiersKeepsItself.
func dirStep(t *testing.T, fx *fixture, step string) {
	t.Helper()
	f := strings.Fields(step)
	var err error
	switch f[0] {
	case "create":
		err = os.WriteFile(fx.path(f[1]), nil, 0o644)
	case "mkdir":
		err = unix.Mkdir(fx.path(f[1]), 0o700)
	case "rename":
		err = unix.Rename(fx.path(f[1]), fx.path(f[2]))
	}
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// A directory removed while a process holds it open can still be
// fstat'ed, with no links, as natively; reading it gives ENOENT. Found by
// TestDifferentialOps (tierfs answered ESTALE).
func TestRemovedDirectoryStillOpen(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		for _, how := range []string{"rmdir", "rename over"} {
			d, other := filepath.Join(tg.dir, "d"), filepath.Join(tg.dir, "other")
			for _, p := range []string{d, other} {
				if err := unix.Mkdir(p, 0o750); err != nil {
					t.Fatal(err)
				}
			}
			fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if how == "rmdir" {
				err = unix.Rmdir(d)
			} else {
				err = unix.Rename(other, d)
			}
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil || st.Mode&0o7777 != 0o750 || st.Nlink != 0 {
				t.Errorf("after %s: fstat: %v, mode %#o nlink %d, want 0750 and 0 links", how, err, st.Mode&0o7777, st.Nlink)
			}
			if _, err := unix.Getdents(fd, make([]byte, 4096)); !errors.Is(err, unix.ENOENT) {
				t.Errorf("after %s: getdents: got %s, want ENOENT", how, errName(err))
			}
			unix.Close(fd)
			unix.Rmdir(d)
			unix.Rmdir(other)
		}
	})
}

// dropCaches makes the kernel forget unused dentries and inodes, so FUSE
// sends FORGET and the next access looks the name up again.
func dropCaches(t testing.TB) {
	t.Helper()
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
		t.Fatalf("drop caches: %v", err)
	}
}

// dirent is one entry of getdents64.
type dirent struct {
	ino  uint64
	typ  uint8
	name string
}

// readDirents lists dir with getdents64, keeping d_ino and d_type, which
// os.ReadDir hides.
func readDirents(t testing.TB, dir string) []dirent {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var out []dirent
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("getdents %s: %v", dir, err)
		}
		if n == 0 {
			return out
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			out = append(out, dirent{ino: binary.NativeEndian.Uint64(b[0:8]), typ: b[18], name: string(name)})
			b = b[reclen:]
		}
	}
}

// Guarantee 9 across a move: a file moved to another tier keeps its
// st_ino, whether or not the kernel still holds its node. (readdir's
// d_ino of a moved file is its number on the new tier: see dirEntry in
// fs/readdir.go and the README's limitations.)
func TestInodeKeptAcrossMove(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	dir := mvUserDir + "/cur"
	want := map[string]uint64{}
	for i := range 3 {
		name := fmt.Sprintf("%d.M%dP1.h:2,S", 1700000000+i, i)
		mvWrite(t, f, dir+"/"+name, mvContent(name, 100), 40*24*time.Hour)
		want[name] = mvIno(t, f, dir+"/"+name)
	}
	if r := mvMigrate(t, f); r.Files != 3 {
		t.Fatalf("premise: migrate moved %d files, want 3: %+v", r.Files, r)
	}
	for name := range want {
		f.requireOnTier(t, dir+"/"+name, "slow")
	}
	check := func(when string) {
		t.Helper()
		for name, ino := range want {
			if st := mvIno(t, f, dir+"/"+name); st != ino {
				t.Errorf("%s: %s: st_ino %d, was %d before the move", when, name, st, ino)
			}
		}
	}
	check("right after the move")
	dropCaches(t) // the kernel forgets the nodes: the tier's xattr answers
	check("after the kernel forgot them")
}
