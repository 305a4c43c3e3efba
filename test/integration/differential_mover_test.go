package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// The CI run of TestDifferentialMover: fewer operations than
// TestDifferentialOps, since every mover pass costs a process and, in the
// window phases, a pause per moved file.
const (
	fuzzMoverDefaultOps = 150
	fuzzMoverEvery      = 12                     // one operation in this many is the mover's
	fuzzMoverPause      = 150 * time.Millisecond // each move's stop at the pause point
)

// fuzzMoverConfig is defaultConfig's layout with aging: under mail/ files
// start on fast and are demoted to slow once their mtime is 30 days old
// (a utimes operation makes them so); under span/ the name picks the
// tier and nothing ages. A rename between the two, or between names of
// span/, leaves a file misplaced, and the mover takes it back to its
// rule's tier: from slow to fast, from fast or slow to tmp, from tmp to
// fast or slow.
func fuzzMoverConfig() fsConfig {
	return fsConfig{
		Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "slow", Kind: "local"}},
		Rules: []ruleSpec{
			{"volatile/**", "tmp"},
			{"index/**", "fast"},
			{"span/**/*.tmp", "tmp"},
			{"span/**/*.slow", "slow"},
		},
		Extra: "[[rule]]\nmatch = \"mail/{hash}/{user}/**\"\ntier = \"fast\"\ndemote_after = \"30d\"\ndemote_to = \"slow\"\n" +
			"\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[mover]\ninterval = \"0s\"\n",
	}
}

// TestDifferentialMover is TestDifferentialOps with the mover: one
// operation in fuzzMoverEvery runs a pass (tierfs migrate) on tierfs and
// nothing natively, and the trees are compared right before and after
// it, inode numbers included, while descriptors stay open across it. In
// the phases "window-copy" and "window-commit" the daemon pauses every
// move at move-after-copy or move-after-rename, and an operation on the
// file being moved or its directory (rename, unlink, write, replace by
// rename, open, link, ...) runs while it is held there, natively at the
// same point of the sequence: a move must be invisible or give up
// cleanly. At the end every file is closed, a last pass runs, tierfs is
// remounted and compared again, and tierfs check, unmounted, must find
// nothing to report.
func TestDifferentialMover(t *testing.T) {
	phases := []struct {
		name  string
		pause string // the daemon's pause point; "" for none
		ops   int    // default operations per seed
	}{
		{"passes", "", fuzzMoverDefaultOps},
		{"window-copy", "move-after-copy", fuzzMoverDefaultOps / 2},
		{"window-commit", "move-after-rename", fuzzMoverDefaultOps / 2},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			f := newFixture(t, fuzzMoverConfig())
			var env []string
			if ph.pause != "" {
				env = append(env, fmt.Sprintf("TIERFS_PAUSEPOINT=%s:%s", ph.pause, fuzzMoverPause))
			}
			f.mount(t, env...)
			runMoverFuzz(t, f, ph.pause != "", ph.ops, env)
		})
	}
}

// runMoverFuzz runs the seeds on fixture f (mounted with env).
func runMoverFuzz(t *testing.T, f *fixture, window bool, defaultOps int, env []string) {
	nativeDir := filepath.Join(t.TempDir(), "native")
	if err := os.Mkdir(nativeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.mountTmpfs(t, nativeDir)
	ops, seeds := fusetest.EnvCount(t, envFuzzOps, defaultOps), fusetest.EnvSeeds(t, envFuzzSeeds, fuzzDefaultSeeds)
	mv := &fuzzMover{f: f, window: window}
	tfs := &fuzzRoot{name: "tierfs", dir: f.mnt, mover: mv}
	nat := &fuzzRoot{name: "native", dir: nativeDir}
	start := time.Now()
	bases := fuzzSeeds(t, seeds, ops, tfs, nat)
	t.Logf("%d seeds × %d operations in %v: %d passes, %d files moved (%d with several names), %d operations during a move",
		len(seeds), ops, time.Since(start).Round(time.Millisecond), mv.passes, mv.moved, mv.linked, mv.during)
	tfs.closeAll()
	nat.closeAll()
	if _, got, _ := mv.apply(t, fuzzOp{kind: "migrate"}, tfs, nat); got != (fuzzResult{}) {
		t.Fatalf("last pass: %s", got)
	}
	if d := compareRoots(t, tfs, nat, bases); d != "" {
		t.Fatalf("after the last pass: tierfs and native differ: %s", d)
	}
	remountCompare(t, func() { f.unmount(t); f.mount(t, env...) }, tfs, nat, bases)
	// The remount dropped the hidden links to replaced files (see
	// checkProblems): a pass now moves every misplaced file but those
	// with a name that would not go with the others.
	if _, got, _ := mv.apply(t, fuzzOp{kind: "migrate"}, tfs, nat); got != (fuzzResult{}) {
		t.Fatalf("pass after the remount: %s", got)
	}
	if d := compareTrees(fuzzSnapshot(t, tfs, bases), fuzzSnapshot(t, nat, bases)); d != "" {
		t.Fatalf("after the pass after the remount: tierfs and native differ: %s", d)
	}
	f.unmount(t)
	out, _ := mvCheck(t, f, "--config", f.cfgPath)
	if bad := checkProblems(out, f); len(bad) > 0 {
		t.Errorf("tierfs check after the sequence: %q\n%s\nthe last pass: %s", bad, out, mv.report)
	}
}

// misplacedRE finds the files tierfs check reports misplaced: path,
// tier and the tier its rule gives it.
var misplacedRE = regexp.MustCompile(`^misplaced: (\S+) on (\w+), rule\[\d+\] \(".*"\) places it on (\w+)`)

// checkProblems returns the lines of tierfs check's output that report a
// problem, but for misplaced files the mover never moves (README, "Known
// limits"): symbolic links, since the mover moves regular files, and
// files with several names of which one would not go with the others. A
// file whose second name a rename replaced counts as such until the
// kernel forgets its inode (tierfs keeps a hidden link to the replaced
// file), so the check follows a remount.
func checkProblems(out string, f *fixture) []string {
	lines := strings.Split(out, "\n")
	to := map[string]string{} // misplaced tier:path → the tier its rule gives
	for _, line := range lines {
		if m := misplacedRE.FindStringSubmatch(line); m != nil {
			to[m[2]+":"+m[1]] = m[3]
		}
	}
	var bad []string
	for _, line := range lines {
		if line == "" || strings.Contains(line, "problems found") || strings.HasPrefix(line, "tierfs: check:") {
			continue
		}
		if m := misplacedRE.FindStringSubmatch(line); m != nil {
			var st unix.Stat_t
			if unix.Lstat(f.tierPath(m[2], m[1]), &st) == nil && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink > 1 && !linkedMovable(f, m[2], &st, to, m[3])) {
				continue
			}
		}
		bad = append(bad, line)
	}
	return bad
}

// linkedMovable reports whether the mover would have moved the file
// with stat st on tier: the scan finds every one of its names, and check
// reports each of them misplaced with the same target.
func linkedMovable(f *fixture, tier string, st *unix.Stat_t, to map[string]string, target string) bool {
	root := f.tierPath(tier, "")
	var names []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && strings.HasPrefix(rel, ".tierfs") {
			return filepath.SkipDir // names there the scan never finds
		}
		var o unix.Stat_t
		if !d.IsDir() && unix.Lstat(p, &o) == nil && o.Ino == st.Ino && o.Dev == st.Dev {
			names = append(names, rel)
		}
		return nil
	})
	if uint64(len(names)) != uint64(st.Nlink) {
		return false
	}
	for _, n := range names {
		if to[tier+":"+n] != target {
			return false
		}
	}
	return true
}

// fuzzMover runs the mover's operations of a sequence on tierfs.
type fuzzMover struct {
	f      *fixture
	window bool     // the daemon pauses every move: act on the held file
	bases  []string // of the sequence running

	passes, moved, during int    // totals for the log
	linked                int    // of moved, files with several names
	report                string // of the last pass
}

// isMover reports whether o is one of the mover's operations.
func (o fuzzOp) isMover() bool { return o.kind == "migrate" || o.kind == "window" }

// moverOp draws a mover pass; in the window phases with an operation to
// run on the file the pass holds (o.name is its kind; o.p is a path for
// it in case no move is held), drawn like any other.
func (g *fuzzGen) moverOp() fuzzOp {
	if !g.mover.window {
		return fuzzOp{kind: "migrate"}
	}
	kinds := []string{"unlink", "rename", "rename", "renamedir", "replace", "append", "writeat", "trunc",
		"fdopen", "link", "chmod", "utimes", "setxattr", "removexattr", "openunlink", "create"}
	o := fuzzOp{kind: "window", name: kinds[g.pick(len(kinds))], p: g.path(), q: g.path(), data: g.data(), off: g.offset(),
		slot: g.pick(fuzzSlots), mode: g.mode(0o600, 0o644, 0o640)}
	switch o.name {
	case "rename", "renamedir":
		o.flags = []int{0, 0, unix.RENAME_NOREPLACE}[g.pick(3)]
	case "fdopen":
		o.flags = []int{unix.O_RDONLY, unix.O_RDWR, unix.O_WRONLY | unix.O_APPEND}[g.pick(3)]
	case "utimes":
		o.off = fuzzUtimesBase + int64(g.pick(1000))
	case "create":
		o.flags = unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC
	case "append":
		o.flags = unix.O_WRONLY | unix.O_APPEND
	case "writeat":
		o.flags = unix.O_WRONLY
	case "trunc":
		o.flags = unix.O_WRONLY | unix.O_TRUNC
	}
	return o
}

// ageOp sets an existing file's times into the past, so that a pass
// demotes it if its rule ages.
func (g *fuzzGen) ageOp() fuzzOp {
	var files []string
	for _, e := range g.existing {
		if !e.dir {
			files = append(files, e.rel)
		}
	}
	p := g.path()
	if len(files) > 0 {
		p = files[g.pick(len(files))]
	}
	return fuzzOp{kind: "utimes", p: p, off: fuzzUtimesBase + int64(g.pick(1000)), flags: unix.AT_SYMLINK_NOFOLLOW}
}

// fuzzIsBase reports whether dir is a base of fuzzBases or above one:
// a directory the sequence must not rename away.
func fuzzIsBase(dir string) bool {
	n := strings.Count(dir, "/")
	return !strings.HasPrefix(dir, "span/") && !strings.HasPrefix(dir, "mail/") ||
		strings.HasPrefix(dir, "span/") && n <= 2 || strings.HasPrefix(dir, "mail/") && n <= 4
}

// during is the operation a window operation runs once a move of held
// (a path inside the mount) is paused, or on its own path if none is.
func (o fuzzOp) during(held string) fuzzOp {
	d := fuzzOp{kind: o.name, p: o.p, q: o.q, data: o.data, off: o.off, mode: o.mode, flags: o.flags, slot: o.slot}
	if held != "" {
		d.p = held
	}
	switch d.kind {
	case "renamedir":
		d.kind = "rename"
		if dir := path.Dir(d.p); !fuzzIsBase(dir) {
			d.p = dir
		}
	case "setxattr", "removexattr":
		d.name, d.data = "user.x", d.data[:min(len(d.data), 100)]
	case "utimes":
		d.flags = 0
	}
	return d
}

// apply runs a mover operation: a pass on tierfs (nothing natively), and
// in a window phase the operation drawn with it, on tierfs while the
// first move of the pass is held and natively after it.
func (mv *fuzzMover) apply(t *testing.T, o fuzzOp, tfs, nat *fuzzRoot) (fuzzOp, fuzzResult, fuzzResult) {
	t.Helper()
	if o.kind == "migrate" {
		before := fuzzSnapshot(t, tfs, mv.bases)
		if res := mv.pass(t, nil); res.err != 0 {
			return o, res, fuzzResult{}
		}
		return o, fuzzResult{out: passChanged(before, fuzzSnapshot(t, tfs, mv.bases))}, fuzzResult{}
	}
	var d fuzzOp
	var got fuzzResult
	res := mv.pass(t, func(held string) {
		d = o.during(held)
		got = d.apply(tfs)
		mv.during++
	})
	if res.err != 0 {
		return o, res, fuzzResult{}
	}
	if d.kind == "" { // nothing moved: the operation runs on its own
		d = o.during("")
		got = d.apply(tfs)
	}
	want := d.apply(nat)
	d.kind = "window/" + d.kind
	return d, got, want
}

// passChanged describes what a pass changed in the mount, "" if nothing
// a program can see: a move is invisible but for its directories' times
// and link counts (a copy of the directory made on the destination
// tier) and user.tierfs.tier.
func passChanged(before, after map[string]fuzzEntry) string {
	for p, b := range before {
		a, ok := after[p]
		if !ok {
			return p + " disappeared in a pass"
		}
		b.tier, b.kept, a.tier, a.kept = "", false, "", false
		if a.typ == unix.S_IFDIR {
			b.mtime, b.nlink, b.size = a.mtime, a.nlink, a.size
		}
		if a != b {
			return fmt.Sprintf("%s changed in a pass: %+v, was %+v", p, a, b)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			return p + " appeared in a pass"
		}
	}
	return ""
}

// pauseRE finds the moves the daemon held at its pause point.
var pauseRE = regexp.MustCompile(`msg="pause point reached" .*path=(\S+)`)

// pass runs tierfs migrate. With held set it runs the pass in the
// background and calls held with the path of the first move the daemon
// pauses, while it is paused. A pass that fails, or reports a failed
// move, is EIO.
func (mv *fuzzMover) pass(t *testing.T, held func(p string)) fuzzResult {
	t.Helper()
	seen := len(pauseRE.FindAllStringSubmatch(mv.f.d.log(), -1))
	done := make(chan passResult, 1)
	go func() {
		out, err := mvMigrateErr(mv.f)
		done <- passResult{out, err}
	}()
	var r passResult
	if held == nil {
		r = <-done
	} else {
		r = mv.waitHeld(t, seen, done, held)
	}
	mv.passes++
	if r.err != nil {
		return fuzzResult{err: unix.EIO, out: fmt.Sprintf("migrate: %v %s", r.err, r.out)}
	}
	var rep struct {
		Files    int64 `json:"files"`
		Linked   int64 `json:"linked"`
		Failed   int64 `json:"failed"`
		Failures []struct {
			Path  string `json:"path"`
			Error string `json:"error"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(r.out, &rep); err != nil {
		return fuzzResult{err: unix.EIO, out: fmt.Sprintf("migrate report: %v %s", err, r.out)}
	}
	mv.moved += int(rep.Files)
	mv.linked += int(rep.Linked)
	mv.report = string(r.out)
	if rep.Failed > 0 {
		return fuzzResult{err: unix.EIO, out: fmt.Sprintf("migrate: %d failed: %+v", rep.Failed, rep.Failures)}
	}
	return fuzzResult{}
}

// passResult is what tierfs migrate printed and how it ended.
type passResult struct {
	out []byte
	err error
}

// waitHeld waits for the pass to end or the daemon to pause a move
// (the seen-th pause in its log), calls held then, and waits for the
// pass.
func (mv *fuzzMover) waitHeld(t *testing.T, seen int, done <-chan passResult, held func(string)) passResult {
	t.Helper()
	deadline := time.Now().Add(mountWait)
	for time.Now().Before(deadline) {
		select {
		case r := <-done:
			return r
		default:
		}
		if m := pauseRE.FindAllStringSubmatch(mv.f.d.log(), -1); len(m) > seen {
			held(m[seen][1])
			return <-done
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the pass neither ended nor paused within %v", mountWait)
	return <-done
}
