package integration

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// intentCrash is one way to leave an unfinished journal intent: a
// config, files written through the mount, and the operation the daemon
// (started with TIERFS_CRASHPOINT=point) is killed in.
type intentCrash struct {
	name, point string
	op          string // the intent's operation, as check reports it
	cfg         func() fsConfig
	seed        func(t *testing.T, f *fixture)
	crash       func(f *fixture) error // fails: the daemon died
	// kills are the steps at which check --repair is killed first, in
	// turn, before the repair that must finish.
	kills []string
}

// intentCrashes covers each kind of intent at the crash points that
// leave one: a directory rename across tiers, a rename replacing a copy
// on another tier, a move and a hard-linked move.
func intentCrashes() []intentCrash {
	renameDir := func(f *fixture) error { return os.Rename(f.path("span/old"), f.path("span/new")) }
	renameFile := func(f *fixture) error { return os.Rename(f.path(replacingFrom), f.path(replacingTo)) }
	migrate := func(f *fixture) error {
		_, err := mvMigrateErr(f)
		return err
	}
	var out []intentCrash
	out = append(out,
		intentCrash{name: "dir", point: "dir-rename-between-tiers", op: "rename-dir span/old -> span/new",
			cfg: defaultConfig, seed: seedSpanDir, crash: renameDir,
			kills: []string{"dir-rename-between-tiers", "replay-before-end"}},
		intentCrash{name: "file", point: "rename-before-unlink-replaced", op: "rename-file " + replacingFrom + " -> " + replacingTo,
			cfg: func() fsConfig { return mvConfig("") }, seed: seedReplacing, crash: renameFile, kills: []string{"check-after-replay"}})
	for i, point := range []string{"move-after-rename", "move-after-switch", "move-after-unlink"} {
		out = append(out, intentCrash{name: "mv", point: point, op: "move " + mvUserDir + "/cur/1.M1P1.h:2,S",
			cfg: func() fsConfig { return mvConfig("") }, seed: seedAged, crash: migrate,
			kills: [][]string{nil, {"replay-before-end"}, {"check-after-replay"}}[i]})
	}
	for i, point := range []string{"move-after-rename", "move-after-unlink"} {
		out = append(out, intentCrash{name: "ln", point: point, op: "move-linked " + slices.Min(mvLinkedNames), // the intent sorts the names
			cfg: func() fsConfig { return mvConfig("") }, seed: seedLinked, crash: migrate,
			kills: [][]string{{"replay-before-end"}, nil}[i]})
	}
	return out
}

func seedSpanDir(t *testing.T, f *fixture) {
	for _, name := range []string{"a", "b.slow", "sub/c.slow", "sub/d", "deep/er/e.slow"} {
		f.mkdirAll(t, path.Dir("span/old/"+name))
		f.writeFile(t, "span/old/"+name, "content of "+name)
	}
}

// A message in new/ (on fast) renamed over one in cur/ that aged to
// slow: the rename journals the removal of the copy on slow.
const (
	replacingFrom = mvUserDir + "/new/3.M3P3.h"
	replacingTo   = mvUserDir + "/cur/3.M3P3.h:2,S"
)

func seedReplacing(t *testing.T, f *fixture) {
	mvWrite(t, f, replacingTo, mvContent("replaced", 3000), 40*24*time.Hour)
	if r := mvMigrate(t, f); r.Files != 1 {
		t.Fatalf("premise: the pass moved %d files, want %s demoted", r.Files, replacingTo)
	}
	mvWrite(t, f, replacingFrom, mvContent("renamed", 2000), 0)
	if a, b := f.tiersHolding(replacingTo), f.tiersHolding(replacingFrom); len(a) != 1 || len(b) != 1 || a[0] == b[0] {
		t.Fatalf("premise: the two files should be on different tiers, are on %v and %v", a, b)
	}
}

func seedAged(t *testing.T, f *fixture) {
	mvWrite(t, f, mvUserDir+"/cur/1.M1P1.h:2,S", mvContent("aged", 100000), 40*24*time.Hour)
	mvWrite(t, f, mvUserDir+"/cur/2.M2P2.h:2,S", mvContent("young", 1000), 0)
}

func seedLinked(t *testing.T, f *fixture) {
	mvWriteLinked(t, f, mvLinkedNames, mvContent("linked", 100000), 40*24*time.Hour)
}

// A crash leaves each kind of intent; then, without a mount, tierfs
// check --repair (also after being killed during its replay or between
// the replay and its walk) finishes it: it exits 0, reports the intent
// repaired, a following check reports nothing more than after a plain
// mount's replay, and the mount shows every name once with the content,
// tier and inode number that the same crash followed by a plain mount
// gives.
func TestCheckIntents(t *testing.T) {
	for _, c := range intentCrashes() {
		// A short name: the control socket's path holds it.
		name := c.name + "-" + c.point[strings.LastIndexByte(c.point, '-')+1:]
		t.Run(name, func(t *testing.T) {
			byMount, checkByMount := intentWorld(t, c, false)
			byRepair, checkByRepair := intentWorld(t, c, true)
			if d := diffShown(byMount, byRepair); d != "" {
				t.Errorf("after check --repair the mount differs from a plain mount's replay:\n%s", d)
			}
			if checkByMount != checkByRepair {
				t.Errorf("tierfs check after the plain mount:\n%s\nafter the repair and a mount:\n%s", checkByMount, checkByRepair)
			}
		})
	}
}

// shownName is a name as the mount shows it after the recovery: its
// content, the tiers holding it, its link count and the names that had
// its inode number and content before the crash ("" if none did).
type shownName struct {
	sum   [32]byte
	tiers string
	nlink uint32
	was   string
}

// intentWorld makes the crash of c in a fresh fixture and recovers by a
// plain mount, or by check --repair and then a mount. It returns what
// the mount shows and what tierfs check reports afterwards.
func intentWorld(t *testing.T, c intentCrash, repair bool) (map[string]shownName, string) {
	t.Helper()
	f := newFixture(t, c.cfg())
	f.mount(t, crashPointEnv+"="+c.point)
	c.seed(t, f)
	before := mountInos(t, f)
	if err := c.crash(f); err == nil {
		t.Fatalf("%s succeeded although the daemon was to crash at %s", c.name, c.point)
	}
	mvWaitKilled(t, f)
	if len(journalEntries(t, f)) == 0 {
		t.Fatalf("premise: a crash at %s left no journal intent", c.point)
	}
	if repair {
		repairIntent(t, f, c)
	}
	f.mount(t)
	shown := shownNames(t, f, before)
	f.unmount(t)
	out, _ := mvCheck(t, f, "--config", f.cfgPath)
	if strings.Contains(out, "journal: ") {
		t.Errorf("tierfs check after the recovery reports an intent:\n%s", out)
	}
	return shown, out
}

// repairIntent kills check --repair at each of c.kills, then runs it to
// the end: it must exit 0 with the intent repaired (by this run or by
// one killed after its replay) and leave the journal empty.
func repairIntent(t *testing.T, f *fixture, c intentCrash) {
	t.Helper()
	want := "journal: " + c.op
	repaired := false
	for _, point := range c.kills {
		out := killedCheck(t, f, point)
		left := journalEntries(t, f)
		if point == "check-after-replay" {
			repaired = true
			if len(left) > 0 || !repairedLine(out, want) {
				t.Errorf("check --repair killed after its replay: journal %v, want it empty and %q repaired:\n%s", left, want, out)
			}
		} else if len(left) == 0 {
			t.Errorf("check --repair killed at %s during the replay, yet the intent is gone:\n%s", point, out)
		}
	}
	out, failed := mvCheck(t, f, "--config", f.cfgPath, "--repair")
	if failed || repaired == repairedLine(out, want) || repaired && strings.Contains(out, "journal: ") {
		t.Errorf("check --repair failed=%v, want it to exit 0 with %q repaired (unless a killed run did):\n%s", failed, want, out)
	}
	if left := journalEntries(t, f); len(left) > 0 {
		t.Errorf("journal after check --repair: %v", left)
	}
}

// repairedLine says whether out reports the intent starting with want
// as finished.
func repairedLine(out, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, want+" ") && strings.HasSuffix(line, "[repaired: finished as the mount would]") {
			return true
		}
	}
	return false
}

// killedCheck runs check --repair with TIERFS_CRASHPOINT=point and
// requires that it killed itself with SIGKILL; it returns its output.
func killedCheck(t *testing.T, f *fixture, point string) string {
	t.Helper()
	cmd := exec.Command(f.bin, "check", "--config", f.cfgPath, "--repair")
	cmd.Env = append(childEnv(), crashPointEnv+"="+point)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("check --repair with %s=%s ended with %v, want SIGKILL\n%s", crashPointEnv, point, err, out)
	}
	return string(out)
}

// journalEntries lists the intents in the journal of the first
// persistent tier.
func journalEntries(t *testing.T, f *fixture) []string {
	t.Helper()
	var out []string
	ents, err := os.ReadDir(f.tierPath("fast", ".tierfs-journal"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// fileID is a file as the mount shows it: its inode number and
// content. A moved file keeps its number, which a file born later on the
// tier it left may get too (the generation, which tells them apart, is
// the kernel's); their contents differ here.
type fileID struct {
	ino uint64
	sum [32]byte
}

// mountInos maps every file through the mount to its names.
func mountInos(t *testing.T, f *fixture) map[fileID][]string {
	t.Helper()
	out := map[fileID][]string{}
	walkMount(t, f, func(rel string, st *unix.Stat_t) {
		data, err := os.ReadFile(f.path(rel))
		if err != nil {
			t.Fatalf("read %s through the mount: %v", rel, err)
		}
		id := fileID{st.Ino, sha256.Sum256(data)}
		out[id] = append(out[id], rel)
	})
	return out
}

// shownNames reads every file through the mount; before maps the files
// shown before the crash to their names.
func shownNames(t *testing.T, f *fixture, before map[fileID][]string) map[string]shownName {
	t.Helper()
	out := map[string]shownName{}
	walkMount(t, f, func(rel string, st *unix.Stat_t) {
		data, err := os.ReadFile(f.path(rel))
		if err != nil {
			t.Errorf("read %s through the mount: %v", rel, err)
		}
		sum := sha256.Sum256(data)
		was := before[fileID{st.Ino, sum}]
		slices.Sort(was)
		out[rel] = shownName{sum: sum, tiers: strings.Join(f.tiersHolding(rel), ","), nlink: uint32(st.Nlink), was: strings.Join(was, ",")}
		if len(was) == 0 {
			t.Errorf("%s: inode number %#x, which no file of its content had before the crash", rel, st.Ino)
		}
	})
	return out
}

// walkMount calls fn for every file in the mount, listed once each.
func walkMount(t *testing.T, f *fixture, fn func(rel string, st *unix.Stat_t)) {
	t.Helper()
	err := filepath.WalkDir(f.mnt, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(f.mnt, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		fn(rel, &st)
		return nil
	})
	if err != nil {
		t.Fatalf("walk the mount: %v", err)
	}
}

// diffShown describes where two recoveries differ.
func diffShown(a, b map[string]shownName) string {
	var d []string
	for _, rel := range slices.Sorted(maps.Keys(a)) {
		if x, ok := b[rel]; !ok {
			d = append(d, fmt.Sprintf("%s: only after the plain mount", rel))
		} else if x != a[rel] {
			d = append(d, fmt.Sprintf("%s: %+v after the plain mount, %+v after the repair", rel, a[rel], x))
		}
	}
	for rel := range b {
		if _, ok := a[rel]; !ok {
			d = append(d, fmt.Sprintf("%s: only after the repair", rel))
		}
	}
	return strings.Join(d, "\n")
}
