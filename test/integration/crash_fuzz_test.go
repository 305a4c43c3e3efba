package integration

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// env names of the randomized crash test: which seeds run ("N": seeds
// 1..N, or a comma-separated list), how many kills each seed makes, and
// whether every step is logged (see with -v).
const (
	envCrashSeeds  = "TIERFS_CRASH_SEEDS"
	envCrashRounds = "TIERFS_CRASH_ROUNDS"
	envCrashTrace  = "TIERFS_CRASH_TRACE"
)

// The CI run: eight seeds, each killing the daemon twice at a random
// moment and twice at named crash points (all of them are covered).
const (
	crashDefaultSeeds  = 8
	crashDefaultRounds = 4
	crashMaxOps        = 120                    // operations of one round, at most
	crashMaxDelay      = 700 * time.Millisecond // a random kill comes within this
)

// crashPoints are the named steps the daemon can kill itself at (the
// TIERFS_CRASHPOINT values in fs/ but name-index-list, which changes
// nothing on the tiers).
var crashPoints = []string{
	"move-before-copy", "move-after-copy", "move-after-rename",
	"move-after-switch", "move-after-unlink", "dir-rename-between-tiers",
	"rename-before-unlink-replaced",
}

// crashPoint is where round of seed kills the daemon: every other round
// at a random moment ("") and in between at the crash points in turn,
// so that four seeds of four rounds cover them all.
func crashPoint(seed uint64, round int) string {
	if round%2 == 0 {
		return ""
	}
	return crashPoints[(2*int(seed-1)+round/2)%len(crashPoints)]
}

// crashConfig places files on fast and slow: mail ages from fast to slow
// after 30 days, archive/ is on slow (mail renamed there is misplaced
// until the mover moves it), and under span/ names ending in .slow are
// on slow, so a directory there spans tiers and a rename there can
// replace a file on another tier.
// With nfs, slow is of kind nfs (a plain directory still): lookups there
// go through the metadata cache and the name indexes.
func crashConfig(nfs bool) fsConfig {
	c := mvConfig("")
	c.Rules = append(c.Rules, ruleSpec{"span/**/*.slow", "slow"})
	if nfs {
		c.Tiers[2].Kind = "nfs"
	}
	return c
}

// TestCrashFuzz runs seeded random sequences of what a mail server does
// (maildir deliveries, flag renames, moves between folders and to a
// directory on another tier, hard links, appends, replace-by-rename,
// directory creation, removal and renames of directories that span
// tiers) with mover passes in between, kills the daemon with SIGKILL at
// a random moment or at a named crash point, remounts, and checks the
// tree against a model: the operation in flight may have happened or
// not, everything completed before is there, once, with its content, on
// one tier, and tierfs check has nothing left to repair.
func TestCrashFuzz(t *testing.T) {
	seeds, rounds := crashParams(t)
	start := time.Now()
	kills, linked := 0, int64(0)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			k, l := crashSeed(t, seed, rounds)
			kills, linked = kills+k, linked+l
		})
	}
	t.Logf("%d seeds, %d kills in %v; passes that finished moved %d files with several names",
		len(seeds), kills, time.Since(start).Round(time.Millisecond), linked)
}

// crashParams reads the seed list and the kills per seed.
func crashParams(t *testing.T) ([]uint64, int) {
	return fusetest.EnvSeeds(t, envCrashSeeds, crashDefaultSeeds), fusetest.EnvCount(t, envCrashRounds, crashDefaultRounds)
}

// crashSeed runs one seed's rounds on a fresh tierfs and returns the
// number of kills and of hard-linked files moved.
func crashSeed(t *testing.T, seed uint64, rounds int) (int, int64) {
	f := newFixture(t, crashConfig(seed%2 == 0))
	f.mount(t)
	m := newCrashModel()
	for _, d := range []string{mvUserDir + "/tmp", mvUserDir + "/new", mvUserDir + "/cur", "archive/alice", "span/d0", "index/f5/alice"} {
		f.mkdirAll(t, d)
		m.addDirAll(d)
	}
	g := &crashGen{rng: rand.New(rand.NewPCG(seed, 0x6372617368)), f: f, fds: map[int]bool{}}
	f.unmount(t)
	for round := range rounds {
		point := crashPoint(seed, round)
		where := fmt.Sprintf("seed %d round %d (%s=%d, %s=%d; point %q)", seed, round, envCrashSeeds, seed, envCrashRounds, rounds, point)
		if point != "" {
			f.mount(t, crashPointEnv+"="+point)
		} else {
			f.mount(t)
		}
		if d := crashDiff(crashObserve(t, f), m); d != "" {
			t.Fatalf("%s: after tierfs check --repair of the previous round, the mount differs from the model: %s", where, d)
		}
		r := crashRound(t, f, g, m, point)
		t.Logf("round %d (point %q, reached %v): %d steps, in flight: %s", round, point, r.reached, len(r.steps), r.inFlight)
		next, ok := crashVerify(t, f, r, where)
		if !ok {
			return round + 1, g.linked.Load()
		}
		m = next
	}
	f.mount(t)
	if d := crashDiff(crashObserve(t, f), m); d != "" {
		t.Errorf("seed %d: after tierfs check --repair of the last round, the mount differs from the model: %s", seed, d)
	}
	f.unmount(t)
	return rounds, g.linked.Load()
}

// crashModel is what the mount must show: files by path (hard links
// share an inode), their content, and directories.
type crashModel struct {
	files map[string]int
	data  map[int]string
	dirs  map[string]bool
}

func newCrashModel() *crashModel {
	return &crashModel{files: map[string]int{}, data: map[int]string{}, dirs: map[string]bool{}}
}

func (m *crashModel) clone() *crashModel {
	return &crashModel{files: maps.Clone(m.files), data: maps.Clone(m.data), dirs: maps.Clone(m.dirs)}
}

func (m *crashModel) addDirAll(d string) {
	for ; d != "." && d != ""; d = path.Dir(d) {
		m.dirs[d] = true
	}
}

// renameDir renames directory from and everything below it.
func (m *crashModel) renameDir(from, to string) {
	moved := func(p string) (string, bool) {
		if p == from || strings.HasPrefix(p, from+"/") {
			return to + strings.TrimPrefix(p, from), true
		}
		return "", false
	}
	for p, ino := range maps.Clone(m.files) {
		if q, ok := moved(p); ok {
			delete(m.files, p)
			m.files[q] = ino
		}
	}
	for d := range maps.Clone(m.dirs) {
		if q, ok := moved(d); ok {
			delete(m.dirs, d)
			m.dirs[q] = true
		}
	}
}

// rename renames file from to to, replacing to.
func (m *crashModel) rename(from, to string) {
	ino := m.files[from]
	delete(m.files, from)
	m.files[to] = ino
}

// crashStep is one system call of an operation and its effect on the
// model (nil: none).
type crashStep struct {
	desc  string
	do    func() error
	apply func(m *crashModel)
}

// crashGen makes random operations valid for the model.
type crashGen struct {
	rng  *rand.Rand
	f    *fixture
	next int          // unique names and inode ids
	fds  map[int]bool // descriptors the operations hold open
	held []int        // of which those kept open across operations
	// linked counts the hard-linked files moved by passes that finished
	// (the mover may run beside the operations).
	linked atomic.Int64
}

// countLinked adds the linked moves of a migrate --json report.
func (g *crashGen) countLinked(out []byte) {
	var rep struct {
		Linked int64 `json:"linked"`
	}
	if json.Unmarshal(out, &rep) == nil {
		g.linked.Add(rep.Linked)
	}
}

func (g *crashGen) opened(fd int, err error) (int, error) {
	if err == nil {
		g.fds[fd] = true
	}
	return fd, err
}

func (g *crashGen) close(fd int) error {
	delete(g.fds, fd)
	return unix.Close(fd)
}

// closeAll closes what an operation cut short by the kill left open.
func (g *crashGen) closeAll() {
	for fd := range g.fds {
		g.close(fd)
	}
	g.held = nil
}

// hold opens a file and keeps it open for a while, as a reader does
// (renames and replacements then keep the open file reachable, and the
// mover must leave it alone).
func (g *crashGen) hold(m *crashModel) []crashStep {
	files := m.allFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	s := []crashStep{{"open and hold " + p, func() error {
		fd, err := g.opened(unix.Open(g.f.path(p), unix.O_RDONLY|unix.O_CLOEXEC, 0))
		if err == nil {
			g.held = append(g.held, fd)
		}
		return err
	}, nil}}
	if len(g.held) >= 3 {
		s = append(s, crashStep{"close a held file", func() error {
			fd := g.held[0]
			g.held = g.held[1:]
			return g.close(fd)
		}, nil})
	}
	return s
}

func (g *crashGen) uniq() int { g.next++; return g.next }

// content is distinct data for inode ino, sometimes large enough that a
// move takes a while.
func (g *crashGen) content(ino int) string {
	n := 100 + g.rng.IntN(4000)
	if g.rng.IntN(8) == 0 {
		n = 200000 + g.rng.IntN(800000)
	}
	return string(mvContent(fmt.Sprintf("inode %d", ino), n))
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// folders are the maildir folders of the model.
func (m *crashModel) folders() []string {
	var out []string
	for d := range m.dirs {
		if strings.HasPrefix(d, mvUserDir) && m.dirs[d+"/cur"] && m.dirs[d+"/new"] && m.dirs[d+"/tmp"] {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func (m *crashModel) sortedFiles(keep func(p string) bool) []string {
	var out []string
	for p := range m.files {
		if keep(p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// spanDirs are the directories below span/.
func (m *crashModel) spanDirs() []string {
	var out []string
	for d := range m.dirs {
		if strings.HasPrefix(d, "span/") {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func (m *crashModel) empty(d string) bool {
	for p := range m.files {
		if strings.HasPrefix(p, d+"/") {
			return false
		}
	}
	for o := range m.dirs {
		if strings.HasPrefix(o, d+"/") {
			return false
		}
	}
	return true
}

// op returns the steps of one random operation on model m.
func (g *crashGen) op(m *crashModel) []crashStep {
	for {
		var s []crashStep
		switch k := g.rng.IntN(100); {
		case k < 20:
			s = g.deliver(m)
		case k < 30:
			s = g.flag(m)
		case k < 35:
			s = g.moveFolder(m)
		case k < 40:
			s = g.archive(m)
		case k < 45:
			s = g.unlink(m)
		case k < 48:
			s = g.link(m)
		case k < 55:
			s = g.appendTo(m)
		case k < 65:
			s = g.replace(m)
		case k < 75:
			s = g.age(m)
		case k < 80:
			s = g.mkdir(m)
		case k < 83:
			s = g.rmdir(m)
		case k < 90:
			s = g.renameDir(m)
		case k < 93:
			s = g.hold(m)
		default:
			s = g.migrate()
		}
		if s != nil {
			return s
		}
	}
}

// createSteps create file p with fresh data and fsync it, as a delivery
// writes into tmp/.
func (g *crashGen) createSteps(p string) []crashStep {
	ino := g.uniq()
	data := g.content(ino)
	abs := g.f.path(p)
	var fd int
	return []crashStep{
		{"create " + p, func() (err error) {
			fd, err = g.opened(unix.Open(abs, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600))
			return err
		}, func(m *crashModel) { m.files[p] = ino; m.data[ino] = "" }},
		{fmt.Sprintf("write %d bytes to %s", len(data), p), func() error { return writeAll(fd, data) },
			func(m *crashModel) { m.data[ino] = data }},
		{"fsync " + p, func() error { return unix.Fsync(fd) }, nil},
		{"close " + p, func() error { return g.close(fd) }, nil},
	}
}

func writeAll(fd int, data string) error {
	b := []byte(data)
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (g *crashGen) renameStep(from, to string) crashStep {
	return crashStep{"rename " + from + " → " + to, func() error { return os.Rename(g.f.path(from), g.f.path(to)) },
		func(m *crashModel) { m.rename(from, to) }}
}

// deliver is a maildir delivery: a file written and fsynced in tmp/,
// renamed into new/.
func (g *crashGen) deliver(m *crashModel) []crashStep {
	folder := pick(g.rng, m.folders())
	name := fmt.Sprintf("17000%05d.M%dP1.host", g.uniq(), g.rng.IntN(1000))
	s := g.createSteps(folder + "/tmp/" + name)
	return append(s, g.renameStep(folder+"/tmp/"+name, folder+"/new/"+name))
}

// mailFiles are the model's messages in new/ and cur/ of every folder.
func (m *crashModel) mailFiles() []string {
	return m.sortedFiles(func(p string) bool {
		d := path.Base(path.Dir(p))
		return strings.HasPrefix(p, mvUserDir+"/") && (d == "new" || d == "cur")
	})
}

// flag moves a message from new/ to cur/ or changes its flags.
func (g *crashGen) flag(m *crashModel) []crashStep {
	files := m.mailFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	base, flags, _ := strings.Cut(path.Base(p), ":2,")
	to := path.Dir(path.Dir(p)) + "/cur/" + base + ":2," + flags + string(rune('A'+g.rng.IntN(26)))
	if _, ok := m.files[to]; ok {
		return nil
	}
	return []crashStep{g.renameStep(p, to)}
}

// moveFolder renames a message into another folder's cur/.
func (g *crashGen) moveFolder(m *crashModel) []crashStep {
	files, folders := m.mailFiles(), m.folders()
	if len(files) == 0 || len(folders) < 2 {
		return nil
	}
	p := pick(g.rng, files)
	to := pick(g.rng, folders) + "/cur/" + path.Base(p)
	if _, ok := m.files[to]; ok {
		return nil
	}
	return []crashStep{g.renameStep(p, to)}
}

// archive renames a message into archive/, on another tier.
func (g *crashGen) archive(m *crashModel) []crashStep {
	files := m.mailFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	to := "archive/alice/" + path.Base(p)
	if _, ok := m.files[to]; ok {
		return nil
	}
	return []crashStep{g.renameStep(p, to)}
}

func (m *crashModel) allFiles() []string { return m.sortedFiles(func(string) bool { return true }) }

func (g *crashGen) unlink(m *crashModel) []crashStep {
	files := m.allFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	return []crashStep{{"unlink " + p, func() error { return unix.Unlink(g.f.path(p)) },
		func(m *crashModel) { delete(m.files, p) }}}
}

// link makes a second name beside a file (Dovecot's COPY by hard link).
func (g *crashGen) link(m *crashModel) []crashStep {
	files := m.allFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	to := path.Dir(p) + fmt.Sprintf("/l%d", g.uniq())
	if strings.HasSuffix(p, ".slow") && g.rng.IntN(2) == 0 {
		to += ".slow"
	}
	return []crashStep{{"link " + p + " → " + to, func() error { return unix.Link(g.f.path(p), g.f.path(to)) },
		func(m *crashModel) { m.files[to] = m.files[p] }}}
}

// appendTo appends to a file and fsyncs it.
func (g *crashGen) appendTo(m *crashModel) []crashStep {
	files := m.allFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	more := fmt.Sprintf("appended %d\n", g.uniq())
	var fd int
	return []crashStep{
		{"open O_APPEND " + p, func() (err error) {
			fd, err = g.opened(unix.Open(g.f.path(p), unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0))
			return err
		}, nil},
		{"append to " + p, func() error { return writeAll(fd, more) },
			func(m *crashModel) { m.data[m.files[p]] += more }},
		{"fsync " + p, func() error { return unix.Fsync(fd) }, nil},
		{"close " + p, func() error { return g.close(fd) }, nil},
	}
}

// replace writes a new file beside an existing one and renames it over
// it (how Dovecot rewrites dovecot-uidlist and its indexes). Under span/
// the new file may be on the other tier.
func (g *crashGen) replace(m *crashModel) []crashStep {
	var target string
	if g.rng.IntN(3) == 0 {
		target = "index/f5/alice/dovecot.index"
		if _, ok := m.files[target]; !ok {
			return g.createSteps(target)
		}
	} else {
		files := m.allFiles()
		if len(files) == 0 {
			return nil
		}
		target = pick(g.rng, files)
	}
	tmp := path.Dir(target) + fmt.Sprintf("/new%d", g.uniq())
	if strings.HasPrefix(target, "span/") && g.rng.IntN(2) == 0 {
		tmp += ".slow"
	}
	return append(g.createSteps(tmp), g.renameStep(tmp, target))
}

// age sets the mtime of a file 40 days back, so the mover demotes it.
func (g *crashGen) age(m *crashModel) []crashStep {
	files := m.allFiles()
	if len(files) == 0 {
		return nil
	}
	p := pick(g.rng, files)
	old := time.Now().Add(-40 * 24 * time.Hour)
	return []crashStep{{"age " + p, func() error { return os.Chtimes(g.f.path(p), old, old) }, nil}}
}

func (g *crashGen) mkdirStep(d string) crashStep {
	return crashStep{"mkdir " + d, func() error { return unix.Mkdir(g.f.path(d), 0o755) },
		func(m *crashModel) { m.dirs[d] = true }}
}

// mkdir makes a directory under span/, with a file on each tier, or a
// maildir folder.
func (g *crashGen) mkdir(m *crashModel) []crashStep {
	if g.rng.IntN(2) == 0 {
		f := fmt.Sprintf("%s/.Box%d", mvUserDir, g.uniq())
		return []crashStep{g.mkdirStep(f), g.mkdirStep(f + "/tmp"), g.mkdirStep(f + "/new"), g.mkdirStep(f + "/cur")}
	}
	d := fmt.Sprintf("%s/d%d", pick(g.rng, m.spanDirs()), g.uniq())
	s := []crashStep{g.mkdirStep(d)}
	s = append(s, g.createSteps(fmt.Sprintf("%s/f%d", d, g.uniq()))...)
	return append(s, g.createSteps(fmt.Sprintf("%s/f%d.slow", d, g.uniq()))...)
}

// rmdir removes an empty directory under span/ or a whole empty folder.
func (g *crashGen) rmdir(m *crashModel) []crashStep {
	var s []crashStep
	for _, d := range m.spanDirs() {
		if d != "span/d0" && m.empty(d) {
			s = append(s, g.rmdirStep(d))
		}
	}
	for _, f := range m.folders() {
		if f != mvUserDir && m.empty(f+"/tmp") && m.empty(f+"/new") && m.empty(f+"/cur") && len(m.sortedFiles(func(p string) bool { return strings.HasPrefix(p, f+"/") })) == 0 {
			s = append(s, g.rmdirStep(f+"/tmp"), g.rmdirStep(f+"/new"), g.rmdirStep(f+"/cur"), g.rmdirStep(f))
			break
		}
	}
	if len(s) == 0 {
		return nil
	}
	return s[:1+g.rng.IntN(len(s))]
}

func (g *crashGen) rmdirStep(d string) crashStep {
	return crashStep{"rmdir " + d, func() error { return unix.Rmdir(g.f.path(d)) },
		func(m *crashModel) { delete(m.dirs, d) }}
}

// renameDir renames a directory under span/ (into another one there,
// or to a new name) or a maildir folder; most span across tiers.
func (g *crashGen) renameDir(m *crashModel) []crashStep {
	var from, to string
	if fs := m.folders(); len(fs) > 1 && g.rng.IntN(2) == 0 {
		from = pick(g.rng, fs[1:]) // not INBOX
		to = fmt.Sprintf("%s/.Box%d", mvUserDir, g.uniq())
	} else {
		var ds []string
		for _, d := range m.spanDirs() {
			if d != "span/d0" {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			return nil
		}
		from = pick(g.rng, ds)
		parent := pick(g.rng, m.spanDirs())
		if parent == from || strings.HasPrefix(parent, from+"/") {
			parent = "span/d0"
		}
		to = fmt.Sprintf("%s/d%d", parent, g.uniq())
	}
	return []crashStep{{"rename dir " + from + " → " + to, func() error { return os.Rename(g.f.path(from), g.f.path(to)) },
		func(m *crashModel) { m.renameDir(from, to) }}}
}

// migrate runs a mover pass; it changes nothing the model sees.
func (g *crashGen) migrate() []crashStep {
	return []crashStep{{"migrate", func() error {
		out, err := mvMigrateErr(g.f)
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		g.countLinked(out)
		return nil
	}, nil}}
}

// crashResult is what a round leaves: the model before the step in
// flight at the kill and the one after it (the same when none was).
type crashResult struct {
	before, after *crashModel
	inFlight      string
	steps         []string
	unexpected    string // a step failed while the daemon was alive
	reached       bool   // the daemon died at its crash point
	log           string // the killed daemon's log
}

// crashRound runs operations until the daemon dies (at its crash point,
// or killed at a random moment), then detaches the dead mount.
func crashRound(t *testing.T, f *fixture, g *crashGen, m *crashModel, point string) crashResult {
	t.Helper()
	d := f.d
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if point == "" {
		delay := time.Duration(g.rng.Int64N(int64(crashMaxDelay)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(delay):
				d.cmd.Process.Signal(syscall.SIGKILL)
			case <-stop:
			}
		}()
	}
	if g.rng.IntN(2) == 0 { // the mover runs beside the operations
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-d.done:
					return
				default:
					if out, err := mvMigrateErr(f); err == nil {
						g.countLinked(out)
					}
				}
			}
		}()
	}
	// A blocked request of a dead daemon returns only once its
	// connection is aborted.
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-d.done:
			if me, ok := mountAt(f.mnt); ok && strings.HasPrefix(me.fstype, "fuse") {
				abortFuse(me)
			}
		case <-stop:
		}
	}()
	r := crashRun(g, m, d, os.Getenv(envCrashTrace) == "1", t)
	close(stop)
	wg.Wait()
	if !d.exited() {
		d.kill()
	}
	f.d = nil
	unmountPath(t, f.mnt)
	checkDaemonLog(t, d)
	r.log = d.log()
	r.reached = strings.Contains(r.log, "crash point reached")
	return r
}

// crashRun applies random operations to the mount and the model until a
// step fails.
func crashRun(g *crashGen, m *crashModel, d *daemon, trace bool, t *testing.T) crashResult {
	r := crashResult{before: m, after: m}
	defer g.closeAll()
	for range crashMaxOps {
		for _, s := range g.op(m) {
			r.steps = append(r.steps, s.desc)
			err := s.do()
			if trace {
				t.Logf("TRACE %s: %v", s.desc, err)
			}
			if err == nil {
				if s.apply != nil {
					s.apply(m)
				}
				continue
			}
			r.inFlight = s.desc + ": " + err.Error()
			if !d.wait(3 * time.Second) {
				r.unexpected = r.inFlight
				return r
			}
			if s.apply != nil {
				r.after = m.clone()
				s.apply(r.after)
			}
			return r
		}
		if d.exited() {
			return r
		}
	}
	return r
}

// crashVerify remounts (replaying the journal), compares the tree with
// the model before and after the step in flight, checks every file is
// on one tier as tierfs where says, then checks and repairs unmounted
// and compares again. It returns the model that matched.
func crashVerify(t *testing.T, f *fixture, r crashResult, where string) (*crashModel, bool) {
	t.Helper()
	last := r.steps[max(0, len(r.steps)-25):]
	fail := func(format string, args ...any) (*crashModel, bool) {
		t.Helper()
		t.Errorf("%s: %s\nin flight: %s\nlast steps:\n  %s\n%s\nthe tiers:\n%s\nthe killed daemon's log:\n%s",
			where, fmt.Sprintf(format, args...), r.inFlight, strings.Join(last, "\n  "), crashHolders(f, r.before, r.after), crashTiers(f), r.log)
		if f.d != nil {
			f.unmount(t)
		}
		return nil, false
	}
	if r.unexpected != "" {
		return fail("a step failed while the daemon was alive: %s", r.unexpected)
	}
	f.mount(t)
	obs := crashObserve(t, f)
	m := r.before
	if crashDiff(obs, r.before) != "" {
		m = r.after
	}
	if d := crashDiff(obs, m); d != "" {
		return fail("after the remount the tree is neither before nor after the step in flight:\n  vs before: %s\n  vs after: %s", crashDiff(obs, r.before), d)
	}
	if d := crashPlaces(t, f, m); d != "" {
		return fail("%s", d)
	}
	f.unmount(t)
	if d := crashCheck(t, f); d != "" {
		return fail("%s", d)
	}
	return m, true
}

// crashHolders lists the tiers holding each file of the models, for a
// failure's message.
func crashHolders(f *fixture, ms ...*crashModel) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, m := range ms {
		for _, p := range m.allFiles() {
			if !seen[p] {
				seen[p] = true
				fmt.Fprintf(&b, "  %s on %v\n", p, f.tiersHolding(p))
			}
		}
	}
	return b.String()
}

// crashTiers lists every file on every tier, the fuzz's own files by the
// inode their content names, for a failure's message: where a content
// went, set-aside copies, temporaries and the journal included.
func crashTiers(f *fixture) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(f.tiers)) {
		root := f.tiers[name]
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return nil
			}
			var st unix.Stat_t
			if unix.Lstat(p, &st) != nil {
				return nil
			}
			head := make([]byte, 16)
			if fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
				n, _ := unix.Read(fd, head)
				head = head[:max(n, 0)]
				unix.Close(fd)
			}
			rel, _ := filepath.Rel(root, p)
			fmt.Fprintf(&b, "  %s:%s size %d nlink %d ino %d %q\n", name, rel, st.Size, st.Nlink, st.Ino, head)
			return nil
		})
	}
	return b.String()
}

// crashObserved is the tree as the mount shows it: files with their
// content and inode number, directories, and names that a lookup finds
// but no listing shows (or the opposite).
type crashObserved struct {
	root  string
	files map[string]string
	inos  map[string]uint64
	dirs  map[string]bool
	odd   []string
}

// crashObserve walks the mount by listings, reads every file found, and
// looks up every name a listing shows.
func crashObserve(t *testing.T, f *fixture) crashObserved {
	t.Helper()
	o := crashObserved{root: f.mnt, files: map[string]string{}, inos: map[string]uint64{}, dirs: map[string]bool{}}
	var unreadable []string
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := os.ReadDir(f.path(rel))
		if err != nil {
			o.odd = append(o.odd, fmt.Sprintf("readdir %s: %v", rel, err))
			return
		}
		seen := map[string]bool{}
		for _, e := range ents {
			p := path.Join(rel, e.Name())
			if seen[e.Name()] {
				o.odd = append(o.odd, "listed twice: "+p)
			}
			seen[e.Name()] = true
			var st unix.Stat_t
			if err := unix.Lstat(f.path(p), &st); err != nil {
				o.odd = append(o.odd, fmt.Sprintf("listed but lookup fails: %s: %v", p, err))
				continue
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				o.dirs[p] = true
				walk(p)
				continue
			}
			data, err := os.ReadFile(f.path(p))
			if err != nil {
				tier := make([]byte, 64)
				n, _ := unix.Getxattr(f.path(p), "user.tierfs.tier", tier)
				o.odd = append(o.odd, fmt.Sprintf("read %s (st_ino %#x, nlink %d, where %q): %v", p, st.Ino, st.Nlink, tier[:max(n, 0)], err))
				unreadable = append(unreadable, p)
			}
			o.files[p], o.inos[p] = string(data), st.Ino
		}
	}
	walk("")
	// A moved file keeps its number, which the tier it left may give to
	// a new file (Known limits); for an unreadable file, say which.
	for _, p := range unreadable {
		for _, q := range slices.Sorted(maps.Keys(o.inos)) {
			if q != p && o.inos[q] == o.inos[p] {
				o.odd = append(o.odd, fmt.Sprintf("%s (unreadable) shares st_ino %#x with %s on %v", p, o.inos[p], q, f.tiersHolding(q)))
			}
		}
	}
	return o
}

// crashDiff describes how the observed tree differs from model m ("" if
// it does not): names missing or extra, content, hard links, and names
// found by lookup but not listed.
func crashDiff(o crashObserved, m *crashModel) string {
	var d []string
	d = append(d, o.odd...)
	for p, ino := range m.files {
		got, ok := o.files[p]
		switch {
		case !ok:
			var st unix.Stat_t
			d = append(d, fmt.Sprintf("missing %s (lookup: %v)", p, errName(unix.Lstat(filepath.Join(o.root, p), &st))))
		case got != m.data[ino]:
			d = append(d, fmt.Sprintf("%s: %d bytes %q…, want %d bytes %q…", p, len(got), head(got), len(m.data[ino]), head(m.data[ino])))
		}
	}
	for p := range o.files {
		if _, ok := m.files[p]; !ok {
			d = append(d, fmt.Sprintf("unexpected file %s (%d bytes %q…)", p, len(o.files[p]), head(o.files[p])))
		}
	}
	for p := range m.dirs {
		if !o.dirs[p] {
			d = append(d, "missing directory "+p)
		}
	}
	for p := range o.dirs {
		if !m.dirs[p] {
			d = append(d, "unexpected directory "+p)
		}
	}
	for p, ino := range m.files {
		for q, ino2 := range m.files {
			// Different files may share a number: a moved file keeps
			// its number, which its old tier may give a new file
			// (README, Known limits).
			if p < q && ino == ino2 && o.inos[p] != o.inos[q] {
				d = append(d, fmt.Sprintf("hard links %s and %s: st_ino %#x and %#x", p, q, o.inos[p], o.inos[q]))
			}
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

func head(s string) string { return s[:min(len(s), 24)] }

// crashPlaces checks every file of m is held by exactly one tier, the
// one tierfs where names.
func crashPlaces(t *testing.T, f *fixture, m *crashModel) string {
	t.Helper()
	files := m.allFiles()
	if len(files) == 0 {
		return ""
	}
	var abs []string
	for _, p := range files {
		abs = append(abs, f.path(p))
	}
	out, err := f.run(append([]string{"where"}, abs...)...)
	if err != nil {
		return fmt.Sprintf("tierfs where: %v\n%s", err, out)
	}
	said := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if fs := strings.Fields(line); len(fs) == 2 {
			said[fs[0]] = fs[1]
		}
	}
	var d []string
	for _, p := range files {
		held := f.tiersHolding(p)
		if w := said[f.path(p)]; len(held) != 1 || held[0] != w {
			d = append(d, fmt.Sprintf("%s: held by tiers %v, tierfs where says %q", p, held, w))
		}
	}
	return strings.Join(d, "; ")
}

// crashCheck runs tierfs check and then check --repair on the unmounted
// tiers: nothing may be left that they cannot repair. Misplaced files
// are no crash's doing (mail renamed to archive/ waits for the mover).
func crashCheck(t *testing.T, f *fixture) string {
	t.Helper()
	var d []string
	for _, args := range [][]string{{"--config", f.cfgPath}, {"--config", f.cfgPath, "--repair"}} {
		cmd := exec.Command(f.bin, append([]string{"check"}, args...)...)
		cmd.Env = childEnv()
		out, _ := cmd.CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			kind, _, _ := strings.Cut(line, ": ")
			if line == "" || kind == "misplaced" || strings.Contains(line, "problems found") || strings.Contains(line, "problems remain") {
				continue
			}
			d = append(d, fmt.Sprintf("tierfs check %s: %s", strings.Join(args[2:], " "), line))
		}
	}
	return strings.Join(d, "\n")
}
