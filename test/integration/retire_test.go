package integration

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The messages of the retire tests: mail demoted to old (two of them
// one hard-linked file in alice's and bob's trees), young mail on fast,
// archived mail placed on old, and two empty directories only on old.
const (
	rtLinked  = "mail/f5/alice/cur/1700000001.M1P1.h:2,S"
	rtLinked2 = "mail/ca/bob/cur/1700000001.M1P1.h:2,S"
	rtOpen    = "mail/f5/alice/cur/1700000002.M2P1.h:2,S"
	rtYoung   = "mail/f5/alice/new/1800000003.M3P1.h"
	rtArchive = "archive/f5/alice/cur/1700000004.M4P1.h:2,S"
	rtEmpty   = "archive/f5/alice/.Empty/cur"
	rtTmp     = "archive/f5/alice/tmp"
)

// rtConfig is the retire tests' layout: tiers (name: path) in order,
// and rules whose slow tier, where mail is demoted and archive/ lives,
// is slow (with slow "fast", nothing is demoted).
func rtConfig(f *fixture, names []string, slow string) fsConfig {
	aging := "demote_after = \"30d\"\ndemote_to = \"" + slow + "\"\n"
	if slow == "fast" {
		aging = ""
	}
	cfg := fsConfig{
		Rules: []ruleSpec{{"volatile/**", "tmp"}, {"index/**", "fast"}, {"archive/**", slow}},
		Extra: "[[rule]]\nmatch = \"mail/{hash}/{user}/**\"\ntier = \"fast\"\n" + aging + "\n" +
			"[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[mover]\ninterval = \"0s\"\n",
	}
	for _, n := range names {
		kind := "local"
		if n == "tmp" {
			kind = "tmpfs"
		}
		cfg.Tiers = append(cfg.Tiers, tierSpec{Name: n, Kind: kind, Path: f.tiers[n]})
	}
	return cfg
}

// rtSetup mounts tmp, fast and old with old in use and fills it (see
// the constants); it returns the content of every message and the
// inode numbers of the messages and directories.
func rtSetup(t *testing.T) (*fixture, map[string][]byte, map[string]uint64) {
	t.Helper()
	f := prepareFixture(t, &fsConfig{Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "old", Kind: "local"}}})
	f.writeConfig(t, rtConfig(f, []string{"tmp", "fast", "old"}, "old").toml())
	runOK(t, f, "init", "--config", f.cfgPath, "--state-dir", f.stateDir)
	f.mount(t)
	content := map[string][]byte{}
	for _, rel := range []string{rtLinked, rtOpen, rtYoung, rtArchive} {
		content[rel] = mvContent(rel, 5000+len(content))
		age := 40 * 24 * time.Hour
		if rel == rtYoung {
			age = 0
		}
		mvWrite(t, f, rel, content[rel], age)
	}
	f.mkdirAll(t, filepath.Dir(rtLinked2))
	if err := os.Link(f.path(rtLinked), f.path(rtLinked2)); err != nil {
		t.Fatal(err)
	}
	content[rtLinked2] = content[rtLinked]
	f.mkdirAll(t, rtEmpty)
	f.mkdirAll(t, rtTmp)
	if r := mvMigrate(t, f); r.Files != 2 || r.Linked != 1 || r.Failed != 0 {
		t.Fatalf("premise: the pass demoting old mail: %+v, want 2 files (one linked)", r)
	}
	for _, rel := range []string{rtLinked, rtLinked2, rtOpen, rtArchive} {
		f.requireOnTier(t, rel, "old")
	}
	f.requireOnTier(t, rtYoung, "fast")
	f.requireOnTier(t, rtEmpty, "old")
	inos := map[string]uint64{}
	for _, rel := range append(slices.Collect(maps.Keys(content)), rtEmpty, rtTmp) {
		inos[rel] = mvIno(t, f, rel)
	}
	return f, content, inos
}

// rtRequireAll checks every message through the mount (content, the
// hard link still one file), the directories only old held, and the
// inode numbers of both.
func rtRequireAll(t *testing.T, f *fixture, content map[string][]byte, inos map[string]uint64) {
	t.Helper()
	for rel, want := range content {
		mvMustBytes(t, f, rel, want)
	}
	for rel, ino := range inos {
		if got := mvIno(t, f, rel); got != ino {
			t.Errorf("%s: st_ino %d, was %d", rel, got, ino)
		}
	}
	var a, b syscall.Stat_t
	if err := syscall.Stat(f.path(rtLinked), &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(f.path(rtLinked2), &b); err != nil || a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link: inode %d and %d (%v), nlink %d; want one file with 2 links", a.Ino, b.Ino, err, a.Nlink)
	}
	for _, d := range []string{rtEmpty, rtTmp} {
		if fi, err := os.Stat(f.path(d)); err != nil || !fi.IsDir() {
			t.Errorf("directory %s through the mount: %v", d, err)
		}
	}
}

// rtFilesOn lists the files (not directories, not tierfs's own names)
// in a tier's directory.
func rtFilesOn(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, ".tierfs") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRetireTier follows README "Retiring or replacing a tier" step by
// step with the real binary: old holds demoted mail (one file
// hard-linked into two users' trees), archived mail and directories no
// other tier has; it is replaced by new. A message is held open during
// the first drain pass. At the end every message reads back the same
// through the mount without old in the config.
func TestRetireTier(t *testing.T) {
	f, content, inos := rtSetup(t)
	newDir := filepath.Join(f.base, "tier-new")
	if err := os.Mkdir(newDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.tiers["new"], f.order = newDir, append(f.order, "new")

	// 1. Add the new tier, with the rules unchanged, and mark it.
	f.writeConfig(t, rtConfig(f, []string{"tmp", "fast", "old", "new"}, "old").toml())
	if out := runOK(t, f, "init", "--config", f.cfgPath, "--state-dir", f.stateDir); !strings.Contains(out, "tier new: "+newDir+" marked") {
		t.Errorf("tierfs init: %q, want new marked", out)
	}
	// 2. Remount (a reload refuses new tiers).
	if out, err := f.run("reload", f.mnt); err == nil || !strings.Contains(out, "tiers cannot change") {
		t.Errorf("reload with a new tier: %v %q, want a refusal", err, out)
	}
	f.unmount(t)
	f.mount(t)
	// 3. No rule names old any more; reload.
	f.writeConfig(t, rtConfig(f, []string{"tmp", "fast", "old", "new"}, "new").toml())
	runOK(t, f, "reload", f.mnt)
	// 4. Migrate until check says old can be removed.
	if out, err := f.run("check", f.mnt); err == nil || !strings.Contains(out, "tier old: no rule names it, and it still holds 4 files, 7 directories") {
		t.Errorf("tierfs check before the drain: %v\n%s\nwant a failure counting old's 4 files and 7 directories", err, out)
	}
	held, err := os.Open(f.path(rtOpen))
	if err != nil {
		t.Fatal(err)
	}
	r := mvMigrate(t, f)
	held.Close()
	// archive/ and every directory below it: only old has them.
	if r.Files != 2 || r.Linked != 1 || r.Dirs != 7 || r.Skipped["open"] != 1 || r.Failed != 0 {
		t.Errorf("first drain pass: %+v, want 2 files (one linked), 7 directories, the open one skipped", r)
	}
	if out, err := f.run("check", f.mnt); err == nil || !strings.Contains(out, "tier old: no rule names it, and it still holds 1 files, 0 directories") {
		t.Errorf("tierfs check with the open message left: %v\n%s", err, out)
	}
	if r := mvMigrate(t, f); r.Files != 1 || r.Failed != 0 {
		t.Errorf("second drain pass: %+v, want the message that was open", r)
	}
	out := runOK(t, f, "check", f.mnt)
	if !strings.Contains(out, "tier old: no rule names it and it holds nothing the other tiers lack: it can be removed from the config") {
		t.Errorf("tierfs check after the drain:\n%s\nwant old removable", out)
	}
	if left := rtFilesOn(t, f.tiers["old"]); len(left) != 0 {
		t.Errorf("files left on old after check said it can go: %v", left)
	}
	rtRequireAll(t, f, content, inos)
	// 5. Remove old from the config and remount.
	f.writeConfig(t, rtConfig(f, []string{"tmp", "fast", "new"}, "new").toml())
	f.unmount(t)
	f.mount(t)
	rtRequireAll(t, f, content, inos)
	for rel := range content {
		if rel != rtYoung {
			f.requireOnTier(t, rel, "new")
		}
	}
	if out, err := f.run("check", f.mnt); err != nil || !strings.Contains(out, "0 problems found") {
		t.Errorf("tierfs check after the retirement: %v\n%s", err, out)
	}
}

// Skipping the drain: the mount with old removed from the config is
// refused, naming old's path, and so is `tierfs check`; with old back
// nothing is lost. Old's filesystem gone (its path an empty directory)
// is refused too, until `tierfs init --forget old`.
func TestRetireTierSkipped(t *testing.T) {
	f, content, inos := rtSetup(t)
	full := rtConfig(f, []string{"tmp", "fast", "old"}, "old").toml()
	f.unmount(t)
	f.writeConfig(t, rtConfig(f, []string{"tmp", "fast"}, "fast").toml())
	mountRefused(t, f, false, `tier "old" (`+f.tiers["old"], "still holds", "tierfs migrate")
	if out, err := f.run("check", "--config", f.cfgPath); err == nil || !strings.Contains(out, "retired: tier \"old\"") {
		t.Errorf("tierfs check with old removed: %v\n%s\nwant old reported", err, out)
	}
	f.writeConfig(t, full)
	f.mount(t)
	rtRequireAll(t, f, content, inos)
	f.unmount(t)

	// old's filesystem not there: an empty directory at its path.
	if err := os.Rename(f.tiers["old"], f.tiers["old"]+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.tiers["old"], 0o755); err != nil {
		t.Fatal(err)
	}
	f.writeConfig(t, rtConfig(f, []string{"tmp", "fast"}, "fast").toml())
	mountRefused(t, f, true, `tier "old" (`+f.tiers["old"], "cannot be checked", "tierfs init --forget old")
	if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir, "--forget", "fast"); err == nil {
		t.Errorf("init --forget of a tier in the config succeeded:\n%s", out)
	}
	runOK(t, f, "init", "--config", f.cfgPath, "--state-dir", f.stateDir, "--forget", "old")
	f.mount(t)
	mvMustBytes(t, f, rtYoung, content[rtYoung])
}

// rtDirs are the directories only old holds after rtSetup, parents
// first.
var rtDirs = []string{"archive", "archive/f5", "archive/f5/alice", "archive/f5/alice/.Empty", rtEmpty, "archive/f5/alice/cur", rtTmp}

// The daemon is killed while the drain copies a directory off old:
// after the temporary copy is made, and after it is renamed into place.
// After the remount no temporary is left, every directory shows its
// mode, owner and inode number, the next pass finishes the drain, and
// the copies carry the same mode and owner.
func TestRetireCopyDirCrash(t *testing.T) {
	for _, point := range []string{"copydir-after-mkdir", "copydir-after-rename"} {
		t.Run(point, func(t *testing.T) {
			f, content, inos := rtSetup(t)
			for i, d := range rtDirs {
				if err := os.Chown(f.path(d), 1234+i, 4321); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(f.path(d), 0o750-os.FileMode(i)); err != nil {
					t.Fatal(err)
				}
			}
			want := map[string]syscall.Stat_t{}
			for _, d := range rtDirs {
				want[d] = rtStat(t, f.path(d))
			}
			f.writeConfig(t, rtConfig(f, []string{"tmp", "fast", "old"}, "fast").toml())
			mvCrashMigrate(t, f, point)
			tmp := mvOwnEntries(f, ".tierfs-moving")
			if onFast := fileExists(f.tierPath("fast", "archive")); len(tmp) != map[bool]int{true: 1, false: 0}[point == "copydir-after-mkdir"] || onFast != (point == "copydir-after-rename") {
				t.Fatalf("premise: after a crash at %s: temporaries %v, archive on fast %v", point, tmp, onFast)
			}
			f.mount(t)
			if left := mvOwnEntries(f, ".tierfs-moving"); len(left) > 0 {
				t.Errorf("temporaries left after the remount: %v", left)
			}
			rtSameDirs(t, f, want, f.path)
			if r := mvMigrate(t, f); r.Failed != 0 {
				t.Errorf("pass after the crash: %+v", r)
			}
			if out := runOK(t, f, "check", f.mnt); !strings.Contains(out, "tier old: no rule names it and it holds nothing the other tiers lack") {
				t.Errorf("tierfs check after the drain:\n%s", out)
			}
			rtSameDirs(t, f, want, f.path)
			rtSameDirs(t, f, want, func(rel string) string { return f.tierPath("fast", rel) })
			rtRequireAll(t, f, content, inos)
		})
	}
}

func rtStat(t *testing.T, p string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// rtSameDirs checks the mode and owner of every directory in want at
// path(rel), and through the mount its inode number too.
func rtSameDirs(t *testing.T, f *fixture, want map[string]syscall.Stat_t, path func(string) string) {
	t.Helper()
	for _, d := range rtDirs {
		got, w := rtStat(t, path(d)), want[d]
		if got.Mode != w.Mode || got.Uid != w.Uid || got.Gid != w.Gid || (path(d) == f.path(d) && got.Ino != w.Ino) {
			t.Errorf("%s: mode %o owner %d:%d ino %d, want mode %o owner %d:%d ino %d", path(d), got.Mode, got.Uid, got.Gid, got.Ino, w.Mode, w.Uid, w.Gid, w.Ino)
		}
	}
}
