package integration

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// env names of the randomized check --repair test: which seeds run ("N":
// seeds 1..N, or a comma-separated list).
const envCheckSeeds = "TIERFS_CHECK_SEEDS"

const (
	checkDefaultSeeds = 4
	checkMaxDamage    = 18                    // damaging operations of one seed, at most
	checkMaxKillDelay = 40 * time.Millisecond // a killed repair dies within this
)

// checkCrashPoints are the steps at which tierfs check --repair kills
// itself (TIERFS_CRASHPOINT): in its move off tmpfs, in its replay of
// the journal (after an intent is settled, before it is cleared) and
// between the replay and its walk.
var checkCrashPoints = []string{"check-move-after-copy", "check-move-after-rename", "replay-before-end", "check-after-replay"}

// TestCheckRepairFuzz builds, per seed, a random damaged state directly
// on the unmounted tiers' directories (names on two or three tiers with
// equal or different content and mtimes, hard links, a file and a
// directory of one name, set-aside copies in the way, stale move
// temporaries, journal intents of interrupted changes, durable Dovecot
// files on tmpfs, unusual names) and checks that tierfs check changes
// nothing, that a repair (also one killed on the way) loses no content,
// is idempotent and leaves a tree the mount shows once per name.
func TestCheckRepairFuzz(t *testing.T) {
	seeds := fusetest.EnvSeeds(t, envCheckSeeds, checkDefaultSeeds)
	start := time.Now()
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { checkRepairSeed(t, seed) })
	}
	t.Logf("%d seeds in %v", len(seeds), time.Since(start).Round(time.Millisecond))
}

func checkRepairSeed(t *testing.T, seed uint64) {
	f := newFixture(t, mvConfig(""))
	g := &damageGen{rng: rand.New(rand.NewPCG(seed, 0x636865636b)), f: f, seed: seed, files: map[string][]string{}}
	g.build(t)
	t.Logf("damage: %s", strings.Join(g.log, "; "))
	model := contentModel(t, f)
	// The repair finishes the journaled renames, as the mount would:
	// they remove what they replaced and give files new names.
	for _, sum := range g.replaced {
		delete(model, sum)
	}
	g.renameModel(model)
	checkReadOnly(t, f)
	var outs strings.Builder
	killed := g.killedRepair(t, model, &outs)
	out, _ := mvCheck(t, f, "--config", f.cfgPath, "--repair")
	outs.WriteString(out)
	after, _ := mvCheck(t, f, "--config", f.cfgPath)
	outs.WriteString(after)
	if d := lostContent(t, f, model, outs.String(), true); d != "" {
		t.Fatalf("check --repair lost content: %s\nrepair output:\n%s", d, out)
	}
	if bad := unsettled(after); len(bad) > 0 {
		t.Errorf("check after --repair still reports: %q\nrepair output:\n%s", bad, out)
	}
	// A killed repair may have finished intents without saying so.
	if n := strings.Count(out, "[repaired: finished as the mount would"); !killed && n != g.intents {
		t.Errorf("check --repair reports %d intents finished, want the %d written:\n%s", n, g.intents, out)
	}
	checkIdempotent(t, f)
	checkMounted(t, f, model, outs.String())
}

// checkIdempotent runs a second check --repair, which must change nothing.
func checkIdempotent(t *testing.T, f *fixture) {
	t.Helper()
	before := tierListing(t, f)
	out, _ := mvCheck(t, f, "--config", f.cfgPath, "--repair")
	if d := diffListing(before, tierListing(t, f)); d != "" {
		t.Errorf("a second check --repair changed the tiers: %s\noutput:\n%s", d, out)
	}
}

// checkReadOnly runs tierfs check without --repair: it must change
// nothing and fail iff it reports something.
func checkReadOnly(t *testing.T, f *fixture) {
	t.Helper()
	before := tierListing(t, f)
	out, failed := mvCheck(t, f, "--config", f.cfgPath)
	if d := diffListing(before, tierListing(t, f)); d != "" {
		t.Errorf("tierfs check without --repair changed the tiers: %s", d)
	}
	if n := len(findings(out)); failed != (n > 0) {
		t.Errorf("tierfs check failed=%v with %d findings:\n%s", failed, n, out)
	}
}

// checkMounted mounts (replaying the journal), requires every name once
// with the content of the one tier holding it, as tierfs where says,
// then checks nothing was lost and nothing but set-aside copies and
// misplaced files is left to report.
func checkMounted(t *testing.T, f *fixture, model map[[32]byte][]string, outs string) {
	t.Helper()
	f.mount(t)
	seen := mountedFiles(t, f)
	f.unmount(t)
	for rel, data := range seen {
		held := f.tiersHolding(rel)
		if len(held) != 1 {
			t.Errorf("%q: shown by the mount, held by tiers %v", rel, held)
			continue
		}
		if got, _ := os.ReadFile(f.tierPath(held[0], rel)); string(got) != data.content {
			t.Errorf("%q: the mount shows %q, tier %s holds %q", rel, head(data.content), held[0], head(string(got)))
		}
		if data.where != held[0] {
			t.Errorf("%q: tierfs where says %q, held by %s", rel, data.where, held[0])
		}
	}
	for _, rel := range unionFiles(t, f) {
		if _, ok := seen[rel]; !ok {
			t.Errorf("%q: on tiers %v but not shown by the mount", rel, f.tiersHolding(rel))
		}
	}
	after, _ := mvCheck(t, f, "--config", f.cfgPath)
	if d := lostContent(t, f, model, outs+after, false); d != "" {
		t.Errorf("content lost after the mount: %s", d)
	}
	if bad := unsettled(after); len(bad) > 0 {
		t.Errorf("check after the mount reports: %q", bad)
	}
}

// checkKinds are the kinds of finding tierfs check reports.
var checkKinds = []string{"duplicate", "conflict", "misplaced", "not durable", "leftover", "set aside", "journal", "unreadable"}

// findings returns the findings of a check's output, each with the
// lines a name holding a newline continues it on.
func findings(out string) []string {
	var fs []string
	for _, line := range strings.Split(out, "\n") {
		kind, _, _ := strings.Cut(line, ": ")
		switch {
		case slices.Contains(checkKinds, kind):
			fs = append(fs, line)
		case len(fs) > 0 && !strings.Contains(line, "problems found") && !strings.HasPrefix(line, "tierfs: "):
			fs[len(fs)-1] += "\n" + line
		}
	}
	return fs
}

// unsettled returns the findings other than set-aside copies, misplaced
// files (the mover's), durable files on tmpfs with several names (a
// repair would split them: a known limit) and the given kinds.
func unsettled(out string, allowed ...string) []string {
	allowed = append(allowed, "set aside", "misplaced")
	var bad []string
	for _, line := range findings(out) {
		kind, _, _ := strings.Cut(line, ": ")
		linked := kind == "not durable" && strings.Contains(line, "it has several names, which a repair would split")
		if !slices.Contains(allowed, kind) && !linked {
			bad = append(bad, line)
		}
	}
	return bad
}

// killedRepair starts check --repair and kills it with SIGKILL after a
// random delay or at a named crash point, on half of the seeds, and
// requires that nothing was lost. It says whether it started one.
func (g *damageGen) killedRepair(t *testing.T, model map[[32]byte][]string, outs *strings.Builder) bool {
	t.Helper()
	if g.rng.IntN(2) == 0 {
		return false
	}
	cmd := exec.Command(g.f.bin, "check", "--config", g.f.cfgPath, "--repair")
	cmd.Env = childEnv()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	point := ""
	if g.rng.IntN(2) == 0 {
		point = pick(g.rng, checkCrashPoints)
		cmd.Env = append(cmd.Env, crashPointEnv+"="+point)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if point == "" {
		time.Sleep(time.Duration(g.rng.Int64N(int64(checkMaxKillDelay))))
		cmd.Process.Kill()
	}
	err := cmd.Wait()
	t.Logf("repair killed (point %q): %v", point, err)
	// The killed repair may not have said what it set aside; a check
	// lists every set-aside copy.
	listed, _ := mvCheck(t, g.f, "--config", g.f.cfgPath)
	out.WriteString(listed)
	outs.WriteString(out.String())
	if d := lostContent(t, g.f, model, out.String(), false); d != "" {
		t.Fatalf("check --repair killed (point %q) lost content: %s\noutput:\n%s", point, d, out.String())
	}
	return true
}

// ownDir says whether rel is in tierfs's own temporaries or journal.
func ownDir(rel string) bool {
	return rel == ".tierfs-tier" || strings.HasPrefix(rel, ".tierfs-moving/") || strings.HasPrefix(rel, ".tierfs-journal/") ||
		rel == ".tierfs-moving" || rel == ".tierfs-journal"
}

// contentModel maps every distinct content under the tiers (outside
// tierfs's own temporaries and journal) to the names holding it.
func contentModel(t *testing.T, f *fixture) map[[32]byte][]string {
	t.Helper()
	m := map[[32]byte][]string{}
	for _, e := range tierListing(t, f) {
		if e.typ == unix.S_IFREG && !ownDir(e.rel) {
			m[e.sum] = append(m[e.sum], e.rel)
		}
	}
	return m
}

// lostContent describes every content of the model no longer reachable:
// under one of its names (any name, after a mount replayed renames,
// unless strict) or in a set-aside copy that outs names.
func lostContent(t *testing.T, f *fixture, model map[[32]byte][]string, outs string, strict bool) string {
	t.Helper()
	have := map[[32]byte][]listEntry{}
	for _, e := range tierListing(t, f) {
		if e.typ == unix.S_IFREG && !ownDir(e.rel) {
			have[e.sum] = append(have[e.sum], e)
		}
	}
	var d []string
	for sum, names := range model {
		if !reachable(have[sum], names, outs, strict) {
			d = append(d, fmt.Sprintf("content %x of %q (now at %v)", sum[:6], names, have[sum]))
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

func reachable(at []listEntry, names []string, outs string, strict bool) bool {
	for _, e := range at {
		aside := strings.HasPrefix(e.rel, ".tierfs-recovered/")
		switch {
		case slices.Contains(names, e.rel):
			return true
		case aside && strings.Contains(outs, e.tier+":"+e.rel):
			return true
		case !aside && (!strict || slices.Contains(names, e.rel)):
			return true
		}
	}
	return false
}

// listEntry is one name on one tier, with what check must not change.
type listEntry struct {
	tier, rel, link, xattrs string
	typ                     uint32
	mode, uid, gid          uint32
	ino, nlink              uint64
	size                    int64
	mtime                   unix.Timespec
	sum                     [32]byte
}

// tierListing lists every name on every tier, directories included.
func tierListing(t *testing.T, f *fixture) map[string]listEntry {
	t.Helper()
	l := map[string]listEntry{}
	for _, tier := range f.order {
		root := f.tiers[tier]
		err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
			if err != nil || p == root {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == ".tierfs-lock" {
				return nil // the repair's lock names its holder
			}
			e, err := listOne(tier, rel, p)
			l[tier+":"+rel] = e
			return err
		})
		if err != nil {
			t.Fatalf("listing tier %s: %v", tier, err)
		}
	}
	return l
}

func listOne(tier, rel, p string) (listEntry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return listEntry{}, err
	}
	e := listEntry{tier: tier, rel: rel, typ: st.Mode & unix.S_IFMT, mode: st.Mode, uid: st.Uid, gid: st.Gid,
		ino: st.Ino, nlink: uint64(st.Nlink), size: st.Size, mtime: st.Mtim, xattrs: xattrsOf(p)}
	switch e.typ {
	case unix.S_IFREG:
		data, err := os.ReadFile(p)
		if err != nil {
			return e, err
		}
		e.sum = sha256.Sum256(data)
	case unix.S_IFLNK:
		e.link, _ = os.Readlink(p)
	}
	return e, nil
}

// xattrsOf lists the user.* attributes of p with their values.
func xattrsOf(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n <= 0 {
		return ""
	}
	var b strings.Builder
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		v := make([]byte, 64<<10)
		m, _ := unix.Lgetxattr(p, name, v)
		fmt.Fprintf(&b, "%s=%q;", name, v[:max(m, 0)])
	}
	return b.String()
}

// diffListing describes how two listings differ.
func diffListing(a, b map[string]listEntry) string {
	var d []string
	for k, x := range a {
		y, ok := b[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("%q disappeared", k))
		case x != y:
			d = append(d, fmt.Sprintf("%q changed: %+v -> %+v", k, x, y))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%q appeared", k))
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

// unionFiles lists the non-directory names of the tiers' union, outside
// tierfs's own names at the roots.
func unionFiles(t *testing.T, f *fixture) []string {
	t.Helper()
	set := map[string]bool{}
	for _, e := range tierListing(t, f) {
		if e.typ != unix.S_IFDIR && !strings.HasPrefix(e.rel, ".tierfs") {
			set[e.rel] = true
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for k := range set {
			if !yield(k) {
				return
			}
		}
	})
}

// shownFile is a file as the mount shows it.
type shownFile struct{ content, where string }

// mountedFiles walks the mount by listings: every name once, found by
// lookup, every file read and asked where it is.
func mountedFiles(t *testing.T, f *fixture) map[string]shownFile {
	t.Helper()
	out := map[string]shownFile{}
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := os.ReadDir(f.path(rel))
		if err != nil {
			t.Errorf("readdir %q through the mount: %v", rel, err)
			return
		}
		for i, e := range ents {
			p := path.Join(rel, e.Name())
			if i > 0 && ents[i-1].Name() == e.Name() {
				t.Errorf("%q listed twice", p)
			}
			var st unix.Stat_t
			if err := unix.Lstat(f.path(p), &st); err != nil {
				t.Errorf("%q listed but lookup fails: %v", p, err)
				continue
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				walk(p)
				continue
			}
			data, err := os.ReadFile(f.path(p))
			if err != nil {
				t.Errorf("read %q through the mount: %v", p, err)
			}
			out[p] = shownFile{content: string(data), where: whereTier(t, f, p)}
		}
	}
	walk("")
	return out
}

// whereTier runs tierfs where for one file (names may hold newlines).
func whereTier(t *testing.T, f *fixture, rel string) string {
	t.Helper()
	out, err := f.run("where", f.path(rel))
	if err != nil {
		t.Errorf("tierfs where %q: %v\n%s", rel, err, out)
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(out, f.path(rel)))
}

// damageGen writes a random damaged state on the unmounted tiers.
type damageGen struct {
	rng   *rand.Rand
	f     *fixture
	seed  uint64
	n     int
	files map[string][]string // tier → regular files written there
	log   []string

	// replaced are the contents a journaled rename replaced on other
	// tiers: the mount's replay of the intent removes them.
	replaced [][32]byte
	// gone are directories a journaled rename moved away on a tier
	// (tier:path): nothing can have been written there since.
	gone []string
	// intents counts the complete intents written to the journal.
	intents int
	// renamedDirs are the directory renames journaled (from, to).
	renamedDirs [][2]string
}

// renameModel adds to every name in the model the name a journaled
// directory rename gives it.
func (g *damageGen) renameModel(model map[[32]byte][]string) {
	for sum, names := range model {
		for _, name := range names {
			for _, r := range g.renamedDirs {
				if rest, ok := strings.CutPrefix(name, r[0]+"/"); ok {
					model[sum] = append(model[sum], r[1]+"/"+rest)
				}
			}
		}
	}
}

var damageDirs = []string{
	mvUserDir + "/cur", mvUserDir + "/new", "index/f5/alice", "volatile/f5/alice",
	"archive/alice", "dir with space", "\xffraw", "-lead",
}

var damageTiers = []string{"tmp", "fast", "slow"}

func (g *damageGen) build(t *testing.T) {
	ops := []func(t *testing.T){g.single, g.dup, g.dup, g.link, g.fileDir, g.asideInWay, g.temp, g.journal, g.durable}
	for range 4 + g.rng.IntN(checkMaxDamage-3) {
		pick(g.rng, ops)(t)
	}
}

// name returns a fresh name: plain, maildir-like, with a space, a
// newline, a leading dash, 255 bytes, or not UTF-8.
func (g *damageGen) name() string {
	g.n++
	switch g.rng.IntN(8) {
	case 0:
		return fmt.Sprintf("a b %d", g.n)
	case 1:
		return fmt.Sprintf("new\nline%d", g.n)
	case 2:
		return fmt.Sprintf("-dash%d", g.n)
	case 3:
		s := fmt.Sprintf("long%d-", g.n)
		return s + strings.Repeat("x", 255-len(s))
	case 4:
		return fmt.Sprintf("\xfe\xff%d", g.n)
	case 5:
		return "dovecot-uidlist"
	default:
		return fmt.Sprintf("%d.M%dP%d.host:2,S", 1700000000+g.n, g.n, g.seed)
	}
}

func (g *damageGen) rel() string { return pick(g.rng, damageDirs) + "/" + g.name() }

func (g *damageGen) content() []byte {
	g.n++
	b := fmt.Appendf(nil, "seed %d content %d\n", g.seed, g.n)
	for range g.rng.IntN(40) {
		b = fmt.Appendf(b, "line %d of %d\n", g.rng.IntN(1000), g.n)
	}
	return b
}

// mtime is a random past time, whole seconds or not.
func (g *damageGen) mtime() time.Time {
	t := time.Unix(1_700_000_000+g.rng.Int64N(10_000_000), 0)
	if g.rng.IntN(2) == 0 {
		t = t.Add(time.Duration(g.rng.IntN(1e9)))
	}
	return t
}

// write puts a file on a tier; false if the tier has a file where rel
// needs a directory.
func (g *damageGen) write(tier, rel string, data []byte, mtime time.Time) bool {
	p := g.f.tierPath(tier, rel)
	if g.isGone(tier, rel) || os.MkdirAll(filepath.Dir(p), 0o755) != nil {
		return false
	}
	if err := os.WriteFile(p, data, 0o600|os.FileMode(g.rng.IntN(2))*0o040); err != nil {
		return false
	}
	if g.rng.IntN(4) == 0 {
		unix.Lsetxattr(p, "user.test", []byte(fmt.Sprint(g.rng.IntN(100))), 0)
	}
	os.Chtimes(p, mtime, mtime)
	if !strings.HasPrefix(rel, ".tierfs") { // not a name a rename or link reaches
		g.files[tier] = append(g.files[tier], rel)
	}
	return true
}

// isGone says whether rel on tier is a name a crash leaves alone until
// the mount's replay: in a directory a journaled rename moved away from
// tier, or a name an intent names.
func (g *damageGen) isGone(tier, rel string) bool {
	for _, d := range g.gone {
		if strings.HasPrefix(tier+":"+rel, d+"/") || strings.HasPrefix("*:"+rel, d+"/") || "*:"+rel == d {
			return true
		}
	}
	return false
}

// freeze marks the names of an intent: nothing changes them before the
// mount that finishes it.
func (g *damageGen) freeze(rels ...string) {
	for _, rel := range rels {
		g.gone = append(g.gone, "*:"+rel)
	}
}

func (g *damageGen) note(format string, args ...any) {
	g.log = append(g.log, fmt.Sprintf(format, args...))
}

// existing returns a file some tier holds and that tier, or "" if none.
func (g *damageGen) existing() (string, string) {
	tier := pick(g.rng, damageTiers)
	if len(g.files[tier]) == 0 {
		return "", ""
	}
	return pick(g.rng, g.files[tier]), tier
}

// single writes one file on one tier, often a name another tier holds.
func (g *damageGen) single(*testing.T) {
	rel, _ := g.existing()
	if rel == "" || g.rng.IntN(2) == 0 {
		rel = g.rel()
	}
	tier := pick(g.rng, damageTiers)
	if g.write(tier, rel, g.content(), g.mtime()) {
		g.note("single %q on %s", rel, tier)
	}
}

// dup writes one name on two or three tiers: same bytes, all different,
// or two alike; mtimes equal or not.
func (g *damageGen) dup(*testing.T) {
	rel := g.rel()
	ts := slices.Clone(damageTiers)
	g.rng.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	ts = ts[:2+g.rng.IntN(2)]
	same, equalTimes := g.rng.IntN(3), g.rng.IntN(2) == 0
	data, mt := g.content(), g.mtime()
	for i, tier := range ts {
		if same == 0 || (same == 1 && i > 0) {
			data = g.content()
		}
		if !equalTimes {
			mt = g.mtime()
		}
		g.write(tier, rel, data, mt)
	}
	g.note("dup %q on %v (same=%d, equal mtimes=%v)", rel, ts, same, equalTimes)
}

// link gives a file another name on its tier, possibly a name another
// tier holds.
func (g *damageGen) link(*testing.T) {
	src, tier := g.existing()
	if src == "" {
		return
	}
	dst, _ := g.existing()
	if dst == "" || g.rng.IntN(2) == 0 {
		dst = g.rel()
	}
	p := g.f.tierPath(tier, dst)
	if g.isGone(tier, dst) || os.MkdirAll(filepath.Dir(p), 0o755) != nil || os.Link(g.f.tierPath(tier, src), p) != nil {
		return
	}
	g.files[tier] = append(g.files[tier], dst)
	g.note("link %q to %q on %s", dst, src, tier)
}

// fileDir makes one name a file on one tier and a directory (holding a
// file) on another.
func (g *damageGen) fileDir(*testing.T) {
	rel := g.rel()
	ts := slices.Clone(damageTiers)
	g.rng.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	g.write(ts[0], rel, g.content(), g.mtime())
	g.write(ts[1], rel+"/"+g.name(), g.content(), g.mtime())
	g.note("file %q on %s, directory on %s", rel, ts[0], ts[1])
}

// asideInWay puts something where a set-aside copy of a name would go
// (a file, a directory, or a file in place of its parent) and gives the
// name a different copy on another tier.
func (g *damageGen) asideInWay(t *testing.T) {
	rel, tier := g.existing()
	if rel == "" {
		return
	}
	other := pick(g.rng, damageTiers)
	way := ".tierfs-recovered/" + rel
	switch g.rng.IntN(3) {
	case 1:
		way += "/" + g.name()
	case 2:
		way = ".tierfs-recovered/" + path.Dir(rel)
	}
	g.write(other, way, g.content(), g.mtime())
	if o := pick(g.rng, damageTiers); o != tier {
		g.write(o, rel, g.content(), g.mtime())
	}
	g.note("in the way of %q: %q on %s", rel, way, other)
}

// temp leaves a move temporary: a whole or partial copy of a file.
func (g *damageGen) temp(*testing.T) {
	rel, tier := g.existing()
	if rel == "" {
		return
	}
	data, err := os.ReadFile(g.f.tierPath(tier, rel))
	if err != nil {
		return
	}
	data = data[:g.rng.IntN(len(data)+1)]
	dst := pick(g.rng, damageTiers)
	tmp := fmt.Sprintf(".tierfs-moving/%016x", g.rng.Uint64())
	p := g.f.tierPath(dst, tmp)
	if os.MkdirAll(filepath.Dir(p), 0o700) == nil && os.WriteFile(p, data, 0o600) == nil {
		g.note("temp %s on %s (%d bytes of %q)", tmp, dst, len(data), rel)
	}
}

// durable puts a file Dovecot needs after a reboot on tmpfs, sometimes
// also (same or other bytes) on a persistent tier.
func (g *damageGen) durable(*testing.T) {
	rel := pick(g.rng, []string{"volatile/f5/alice/dovecot-uidlist", "volatile/f5/alice/" + g.name() + "/dovecot.index",
		mvUserDir + "/cur/" + g.name(), mvUserDir + "/new/" + g.name()})
	data := g.content()
	g.write("tmp", rel, data, g.mtime())
	if g.rng.IntN(2) == 0 {
		if g.rng.IntN(2) == 0 {
			data = g.content()
		}
		g.write(pick(g.rng, damageTiers[1:]), rel, data, g.mtime())
	}
	g.note("durable %q on tmp", rel)
}

// journal leaves the intent of an interrupted multi-tier change with its
// files in a state a crash can leave: a move before or after its copy,
// a replacing rename before or after its rename, a directory rename
// done on some of its tiers; sometimes a torn intent.
func (g *damageGen) journal(t *testing.T) {
	var in map[string]any
	switch g.rng.IntN(3) {
	case 0:
		in = g.moveIntent()
	case 1:
		in = g.renameFileIntent()
	default:
		in = g.renameDirIntent()
	}
	if in == nil {
		return
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ext := ".json"
	if g.rng.IntN(6) == 0 {
		ext, b = ".tmp", b[:g.rng.IntN(len(b))]
	}
	p := g.f.tierPath("fast", fmt.Sprintf(".tierfs-journal/%016x%s", g.rng.Uint64(), ext))
	if os.MkdirAll(filepath.Dir(p), 0o700) != nil || os.WriteFile(p, b, 0o600) != nil {
		t.Fatalf("write intent %s", p)
	}
	if ext == ".json" {
		g.intents++
	}
	g.note("intent %s%s", b, ext)
}

func (g *damageGen) moveIntent() map[string]any {
	rel, src := g.existing()
	if rel == "" || g.isGone(src, rel) {
		return nil
	}
	defer g.freeze(rel)
	dst := pick(g.rng, damageTiers)
	if dst == src {
		return nil // the mover never moves a file to its own tier
	}
	if g.rng.IntN(2) == 0 {
		if data, err := os.ReadFile(g.f.tierPath(src, rel)); err == nil {
			g.write(dst, rel, data, g.mtime())
		}
	}
	return map[string]any{"op": "move", "from": rel, "tiers": []string{src, dst}}
}

func (g *damageGen) renameFileIntent() map[string]any {
	from, src := g.existing()
	if from == "" || g.isGone(src, from) {
		return nil
	}
	to := path.Dir(from) + "/" + g.name()
	defer g.freeze(from, to)
	var others []string
	var sums [][32]byte
	for _, tier := range damageTiers {
		data := g.content()
		if tier != src && g.rng.IntN(2) == 0 && g.write(tier, to, data, g.mtime()) {
			others = append(others, tier)
			sums = append(sums, sha256.Sum256(data))
		}
	}
	if len(others) == 0 {
		return nil // a rename that replaces nothing elsewhere is not journaled
	}
	if g.rng.IntN(2) == 0 && os.Rename(g.f.tierPath(src, from), g.f.tierPath(src, to)) == nil {
		g.files[src] = append(g.files[src], to)
		g.replaced = append(g.replaced, sums...)
	}
	return map[string]any{"op": "rename-file", "from": from, "to": to, "tiers": append([]string{src}, others...)}
}

func (g *damageGen) renameDirIntent() map[string]any {
	g.n++
	from := fmt.Sprintf("%s/folder %d", pick(g.rng, damageDirs), g.n)
	to := from + "-renamed"
	defer g.freeze(from, to)
	ts := []string{"fast", "slow"}
	g.rng.Shuffle(2, func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	for _, tier := range ts {
		g.write(tier, from+"/"+g.name(), g.content(), g.mtime())
	}
	if g.rng.IntN(2) == 0 && os.Rename(g.f.tierPath(ts[0], from), g.f.tierPath(ts[0], to)) == nil {
		g.gone = append(g.gone, ts[0]+":"+from)
		for i, rel := range g.files[ts[0]] {
			if strings.HasPrefix(rel, from+"/") {
				g.files[ts[0]][i] = to + strings.TrimPrefix(rel, from)
			}
		}
	}
	g.renamedDirs = append(g.renamedDirs, [2]string{from, to})
	return map[string]any{"op": "rename-dir", "from": from, "to": to, "tiers": ts}
}
