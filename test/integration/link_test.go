package integration

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee 2: link() gives EEXIST on an existing target, and st_nlink is
// right at once on both names and on an open descriptor. Dovecot makes
// every lock file this way (write a temporary file, link it to the lock
// name, check st_nlink).
func TestLink(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		tmp := filepath.Join(tg.dir, "dovecot.lock.tmp")
		lock := filepath.Join(tg.dir, "dovecot.lock")
		other := filepath.Join(tg.dir, "other")
		mustWrite(t, tmp, "pid 1")
		mustWrite(t, other, "other")
		fd, err := unix.Open(tmp, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Link(tmp, lock); err != nil {
			t.Fatalf("link: %v", err)
		}
		a, b := lstat(t, tmp), lstat(t, lock)
		if a.Nlink != 2 || b.Nlink != 2 {
			t.Errorf("st_nlink right after link: %d and %d, want 2 on both names", a.Nlink, b.Nlink)
		}
		if a.Ino != b.Ino {
			t.Errorf("hard links have st_ino %d and %d, want one number", a.Ino, b.Ino)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 2 {
			t.Errorf("fstat of an open descriptor after link: nlink %d (%v), want 2", st.Nlink, err)
		}
		if err := unix.Link(other, lock); !errors.Is(err, unix.EEXIST) {
			t.Errorf("link onto an existing name: got %s, want EEXIST", errName(err))
		}
		if err := unix.Link(tmp, other); !errors.Is(err, unix.EEXIST) {
			t.Errorf("link onto an existing name: got %s, want EEXIST", errName(err))
		}
		mustContent(t, lock, "pid 1")
		mustContent(t, other, "other")
		if err := unix.Link(filepath.Join(tg.dir, "missing"), filepath.Join(tg.dir, "x")); !errors.Is(err, unix.ENOENT) {
			t.Errorf("link of a missing source: got %s, want ENOENT", errName(err))
		}
		mustWrite(t, lock, "pid 2") // one file, two names
		mustContent(t, tmp, "pid 2")
		if err := unix.Unlink(tmp); err != nil {
			t.Fatal(err)
		}
		if got := lstat(t, lock).Nlink; got != 1 {
			t.Errorf("st_nlink after unlinking the other name: %d, want 1", got)
		}
		if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 1 {
			t.Errorf("fstat of an open descriptor after unlink: nlink %d (%v), want 1", st.Nlink, err)
		}
	})
}

// A link into another directory of the same target works and shares the
// inode (Dovecot's maildir_copy_with_hardlinks).
func TestLinkAcrossDirectories(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		sub := filepath.Join(tg.dir, "sub")
		if err := unix.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(tg.dir, "msg")
		mustWrite(t, src, "mail")
		dst := filepath.Join(sub, "msg")
		if err := unix.Link(src, dst); err != nil {
			t.Fatalf("link across directories: %v", err)
		}
		a, b := lstat(t, src), lstat(t, dst)
		if a.Ino != b.Ino || a.Nlink != 2 || b.Nlink != 2 {
			t.Errorf("after link across directories: ino %d/%d nlink %d/%d", a.Ino, b.Ino, a.Nlink, b.Nlink)
		}
	})
}

// A rename over one name of a hard-linked file leaves the other name
// with st_nlink 1, by path, on an open descriptor, in a chmod's reply
// and listed again. tierfs keeps a link of its own to the replaced file
// while the kernel knows it (see fs/replaced.go); it must not show.
func TestLinkNlinkAfterOtherNameReplaced(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) { checkNlinkAfterOtherNameReplaced(t, tg.dir) })
	// Again with names not cached in the kernel, so that every stat by
	// path is answered by a LOOKUP's attributes.
	cfg := defaultConfig()
	cfg.Extra = "[kernel]\nentry_timeout = \"0s\"\nattr_timeout = \"60s\"\n"
	fx := mountTierfs(t, cfg)
	for _, td := range tierDirs() {
		t.Run("lookup-"+td.name, func(t *testing.T) {
			checkNlinkAfterOtherNameReplaced(t, fx.mkdirAll(t, td.rel+"/nlink"))
		})
	}
}

func checkNlinkAfterOtherNameReplaced(t *testing.T, dir string) {
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	mustWrite(t, a, "old")
	if err := unix.Link(a, c); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(c, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	lstat(t, a) // the kernel knows a's inode: the rename keeps a link
	mustWrite(t, b, "new")
	if err := unix.Rename(b, a); err != nil {
		t.Fatal(err)
	}
	if got := lstat(t, c).Nlink; got != 1 {
		t.Errorf("st_nlink of c after its other name was replaced: %d, want 1", got)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 1 {
		t.Errorf("fstat of c after its other name was replaced: nlink %d (%v), want 1", st.Nlink, err)
	}
	if err := unix.Chmod(c, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := lstat(t, c).Nlink; got != 1 {
		t.Errorf("st_nlink of c after chmod: %d, want 1", got)
	}
	readdirNames(t, dir)
	if got := lstat(t, c).Nlink; got != 1 {
		t.Errorf("st_nlink of c after listing its directory: %d, want 1", got)
	}
	if got := lstat(t, a).Nlink; got != 1 {
		t.Errorf("st_nlink of the file that replaced a: %d, want 1", got)
	}
	d := filepath.Join(dir, "d")
	if err := unix.Link(c, d); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{c, d} {
		if got := lstat(t, p).Nlink; got != 2 {
			t.Errorf("st_nlink of %s after link(c, d): %d, want 2", filepath.Base(p), got)
		}
	}
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}
