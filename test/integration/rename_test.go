package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee 1: rename replaces its target, within and across directories;
// the target then has the source's content and inode; renaming a missing
// source gives ENOENT.
func TestRenameReplaces(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		sub := filepath.Join(tg.dir, "sub")
		if err := unix.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		cases := []struct{ name, from, to string }{
			{"within a directory", "a", "b"},
			{"across directories", "c", "sub/d"},
			{"back up", "sub/e", "f"},
		}
		for _, c := range cases {
			from, to := filepath.Join(tg.dir, c.from), filepath.Join(tg.dir, c.to)
			mustWrite(t, from, "new "+c.name)
			mustWrite(t, to, "old")
			ino := lstat(t, from).Ino
			if err := unix.Rename(from, to); err != nil {
				t.Fatalf("%s: rename: %v", c.name, err)
			}
			mustContent(t, to, "new "+c.name)
			if got := lstat(t, to).Ino; got != ino {
				t.Errorf("%s: target has st_ino %d, want the source's %d", c.name, got, ino)
			}
			var st unix.Stat_t
			if err := unix.Lstat(from, &st); !errors.Is(err, unix.ENOENT) {
				t.Errorf("%s: source after rename: got %s, want ENOENT", c.name, errName(err))
			}
		}
		err := unix.Rename(filepath.Join(tg.dir, "missing"), filepath.Join(tg.dir, "x"))
		if !errors.Is(err, unix.ENOENT) {
			t.Errorf("rename of a missing source: got %s, want ENOENT", errName(err))
		}
	})
}

// Guarantee 1, atomicity: while new versions are renamed over a file, a
// reader opening it never gets ENOENT and always reads one whole version
// (this is how Dovecot replaces dovecot-uidlist and its index files).
func TestRenameAtomicForReaders(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		target := filepath.Join(tg.dir, "dovecot-uidlist")
		mustWrite(t, target, version(0))
		var stop atomic.Bool
		var wg sync.WaitGroup
		var reads atomic.Int64
		errs := make(chan string, 10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				data, err := os.ReadFile(target)
				reads.Add(1)
				if err != nil {
					errs <- fmt.Sprintf("read during renames: %s", errName(err))
					return
				}
				if !isVersion(string(data)) {
					errs <- fmt.Sprintf("read a torn file: %q", data)
					return
				}
			}
		}()
		for i := 1; i <= 200; i++ {
			tmp := filepath.Join(tg.dir, fmt.Sprintf("dovecot-uidlist.tmp%d", i))
			mustWrite(t, tmp, version(i))
			if err := unix.Rename(tmp, target); err != nil {
				t.Fatalf("rename %d: %v", i, err)
			}
		}
		stop.Store(true)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		mustContent(t, target, version(200))
		t.Logf("%d reads during 200 renames", reads.Load())
	})
}

func version(i int) string { return fmt.Sprintf("3 V%08d N1\nend\n", i) }

func isVersion(s string) bool {
	var i int
	_, err := fmt.Sscanf(s, "3 V%08d N1\nend\n", &i)
	return err == nil && s == version(i)
}

// RENAME_NOREPLACE gives EEXIST on an existing target and works otherwise.
func TestRenameNoreplace(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		a, b, c := filepath.Join(tg.dir, "a"), filepath.Join(tg.dir, "b"), filepath.Join(tg.dir, "c")
		mustWrite(t, a, "a")
		mustWrite(t, b, "b")
		if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE); !errors.Is(err, unix.EEXIST) {
			t.Errorf("RENAME_NOREPLACE onto an existing name: got %s, want EEXIST", errName(err))
		}
		mustContent(t, b, "b")
		if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, c, unix.RENAME_NOREPLACE); err != nil {
			t.Errorf("RENAME_NOREPLACE onto a free name: %v", err)
		}
		mustContent(t, c, "a")
	})
}

// Directory renames: over an empty directory works, over a non-empty one
// fails with ENOTEMPTY (or EEXIST, which POSIX also allows).
func TestRenameDirectories(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		src, empty, full := filepath.Join(tg.dir, "src"), filepath.Join(tg.dir, "empty"), filepath.Join(tg.dir, "full")
		for _, d := range []string{src, empty, full} {
			if err := unix.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustWrite(t, filepath.Join(src, "m"), "m")
		mustWrite(t, filepath.Join(full, "x"), "x")
		if err := unix.Rename(src, full); !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
			t.Errorf("rename a directory over a non-empty one: got %s, want ENOTEMPTY", errName(err))
		}
		if err := unix.Rename(src, empty); err != nil {
			t.Fatalf("rename a directory over an empty one: %v", err)
		}
		mustContent(t, filepath.Join(empty, "m"), "m")
	})
}

// Sticky placement under rename: a file renamed over a target held by
// another tier replaces it completely (content, inode, one directory entry)
// and the loser's backing copy is gone.
func TestRenameOverTargetOnOtherTier(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "span/d")
	fx.writeFile(t, "span/d/a", "winner")
	fx.writeFile(t, "span/d/b.slow", "loser on slow")
	fx.requireOnTier(t, "span/d/a", "fast")
	fx.requireOnTier(t, "span/d/b.slow", "slow")
	ino := lstat(t, fx.path("span/d/a")).Ino
	if err := os.Rename(fx.path("span/d/a"), fx.path("span/d/b.slow")); err != nil {
		t.Fatalf("rename over a target on another tier: %v", err)
	}
	mustContent(t, fx.path("span/d/b.slow"), "winner")
	if got := lstat(t, fx.path("span/d/b.slow")).Ino; got != ino {
		t.Errorf("st_ino after rename %d, want the source's %d", got, ino)
	}
	fx.requireOnTier(t, "span/d/b.slow", "fast")
	names := readdirNames(t, fx.path("span/d"))
	if fmt.Sprint(names) != "[b.slow]" {
		t.Errorf("readdir after rename over another tier's file: %v, want [b.slow]", names)
	}
	// RENAME_NOREPLACE must see names on every tier.
	fx.writeFile(t, "span/d/c.slow", "on slow")
	fx.writeFile(t, "span/d/e", "on fast")
	err := unix.Renameat2(unix.AT_FDCWD, fx.path("span/d/e"), unix.AT_FDCWD, fx.path("span/d/c.slow"), unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EEXIST) {
		t.Errorf("RENAME_NOREPLACE onto a name on another tier: got %s, want EEXIST", errName(err))
	}
}

// A directory whose only entry is on another tier is not empty: rmdir and
// rename over it fail with ENOTEMPTY.
func TestDirectoryNotEmptyAcrossTiers(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "span/full")
	fx.mkdirAll(t, "span/src")
	fx.writeFile(t, "span/full/only.slow", "x")
	if got := fx.tiersHolding("span/full"); len(got) < 2 {
		t.Fatalf("premise: span/full should be on fast and slow, is on %v", got)
	}
	if err := unix.Rmdir(fx.path("span/full")); !errors.Is(err, unix.ENOTEMPTY) {
		t.Errorf("rmdir of a directory whose entry is on another tier: got %s, want ENOTEMPTY", errName(err))
	}
	if err := unix.Rename(fx.path("span/src"), fx.path("span/full")); !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		t.Errorf("rename over such a directory: got %s, want ENOTEMPTY", errName(err))
	}
	mustContent(t, fx.path("span/full/only.slow"), "x")
	if err := unix.Unlink(fx.path("span/full/only.slow")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Rmdir(fx.path("span/full")); err != nil {
		t.Errorf("rmdir once empty on every tier: %v", err)
	}
	if got := fx.tiersHolding("span/full"); len(got) != 0 {
		t.Errorf("after rmdir, span/full still on tiers %v", got)
	}
}

// A directory spanning all tiers renames as a whole: every entry is
// reachable under the new name and stays on its tier.
func TestRenameDirectorySpanningTiers(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "span/old/sub")
	files := map[string]string{"a.tmp": "tmp", "b": "fast", "c.slow": "slow", "sub/d.slow": "slow", "sub/e": "fast"}
	for name := range files {
		fx.writeFile(t, "span/old/"+name, "content of "+name)
	}
	if err := os.Rename(fx.path("span/old"), fx.path("span/new")); err != nil {
		t.Fatalf("rename of a directory spanning tiers: %v", err)
	}
	requireDirRenamed(t, fx, "span/old", "span/new", files)
}

// requireDirRenamed checks that directory from is now to: every file of
// files (name → tier) is under to with its content and on its tier, and
// from is gone from the mount and from every tier.
func requireDirRenamed(t testing.TB, fx *fixture, from, to string, files map[string]string) {
	t.Helper()
	for name, tier := range files {
		mustContent(t, fx.path(to+"/"+name), "content of "+name)
		fx.requireOnTier(t, to+"/"+name, tier)
	}
	if got := fx.tiersHolding(from); len(got) != 0 {
		t.Errorf("%s still on tiers %v after the rename", from, got)
	}
	var st unix.Stat_t
	if err := unix.Lstat(fx.path(from), &st); !errors.Is(err, unix.ENOENT) {
		t.Errorf("%s after the rename: got %s, want ENOENT", from, errName(err))
	}
}

// readdirNames lists a directory's names, sorted.
func readdirNames(t testing.TB, dir string) []string {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	slices.Sort(names)
	return names
}
