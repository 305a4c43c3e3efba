package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// env names of the differential test: how many operations each seed runs
// and which seeds run ("N": seeds 1..N, or a comma-separated list), so a
// longer local run and the reproduction of one failing seed need no edit.
const (
	envFuzzOps      = "TIERFS_FUZZ_OPS"
	envFuzzSeeds    = "TIERFS_FUZZ_SEEDS"
	envFuzzMinimize = "TIERFS_FUZZ_MINIMIZE" // "1": shorten a failing sequence before reporting it
	envFuzzTrace    = "TIERFS_FUZZ_TRACE"    // "1": log every operation with both results (see with -v)
)

// The CI run: 8 seeds of 400 operations each.
const (
	fuzzDefaultOps   = 400
	fuzzDefaultSeeds = 8
	fuzzTreeEvery    = 25 // operations between full tree comparisons
	fuzzSlots        = 4  // descriptors an operation sequence may hold open
	fuzzUtimesBase   = 1_600_000_000
)

// fuzzNames is the name pool. The suffixes send names to different tiers
// under span/ (see defaultConfig), so collisions between names happen
// often and span tiers: renames across tiers, directories on several
// tiers, a name replaced by one on another tier.
var fuzzNames = []string{"a", "b", "c.tmp", "d.tmp", "e.slow", "f.slow", "g", "h.tmp"}

// TestDifferentialOps applies the same seeded random sequence of
// operations to a tierfs mount and to a native tmpfs and compares, after
// every operation, its errno and result, and every few operations the
// whole tree. At the end tierfs is remounted and the tree compared again.
func TestDifferentialOps(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	nativeDir := filepath.Join(t.TempDir(), "native")
	if err := os.Mkdir(nativeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fx.mountTmpfs(t, nativeDir)
	ops, seeds := fuzzParams(t)
	tfs := &fuzzRoot{name: "tierfs", dir: fx.mnt}
	nat := &fuzzRoot{name: "native", dir: nativeDir}
	start := time.Now()
	bases := fuzzSeeds(t, seeds, ops, tfs, nat)
	t.Logf("%d seeds × %d operations in %v", len(seeds), ops, time.Since(start).Round(time.Millisecond))
	tfs.closeAll()
	nat.closeAll()
	remountCompare(t, func() { fx.unmount(t); fx.mount(t) }, tfs, nat, bases)
}

// fuzzSeeds runs ops operations of each seed on tfs and nat, each seed
// in directories of its own, and returns all those directories.
func fuzzSeeds(t *testing.T, seeds []uint64, ops int, tfs, nat *fuzzRoot) []string {
	var bases []string
	for _, seed := range seeds {
		sb := fuzzBases(fuzzTag(seed))
		setupBases(t, sb, tfs, nat)
		fuzzRun(t, seed, ops, sb, tfs, nat)
		bases = append(bases, sb...)
	}
	return bases
}

// fuzzParams reads the operation count and the seed list.
func fuzzParams(t *testing.T) (int, []uint64) {
	return fusetest.EnvCount(t, envFuzzOps, fuzzDefaultOps), fusetest.EnvSeeds(t, envFuzzSeeds, fuzzDefaultSeeds)
}

// remountCompare remounts tierfs and requires the tree under bases to
// still be the native one, with every file's st_ino kept.
func remountCompare(t *testing.T, remount func(), tfs, nat *fuzzRoot, bases []string) {
	t.Helper()
	before := fuzzSnapshot(t, tfs, bases)
	remount()
	after := fuzzSnapshot(t, tfs, bases)
	if d := compareTrees(after, fuzzSnapshot(t, nat, bases)); d != "" {
		t.Fatalf("after remount: tierfs and native differ: %s", d)
	}
	for p, e := range before {
		if a := after[p]; a.ino != e.ino {
			t.Errorf("after remount: %s has st_ino %#x, had %#x", p, a.ino, e.ino)
		}
	}
}

// fuzzBases are the directories one sequence works in: one under span/,
// whose entries land on all tiers, and one in a maildir's cur/, on slow.
func fuzzBases(tag string) []string {
	return []string{"span/" + tag + "/d", "mail/f5/alice/cur/" + tag}
}

func fuzzTag(seed uint64) string { return fmt.Sprintf("s%d", seed) }

// setupBases makes the bases in both roots and closes the descriptors
// the previous sequence left open.
func setupBases(t *testing.T, bases []string, roots ...*fuzzRoot) {
	t.Helper()
	for _, r := range roots {
		r.reset()
		if r.mover != nil {
			r.mover.bases = bases
		}
		for _, b := range bases {
			if err := os.MkdirAll(r.abs(b), 0o755); err != nil {
				t.Fatalf("%s: mkdir -p %s: %v", r.name, b, err)
			}
		}
	}
}

// fuzzRoot is one of the two trees the operations run in, with the
// descriptors the sequence holds open there and the inode numbers of the
// last tree comparison.
type fuzzRoot struct {
	name  string
	dir   string
	fds   [fuzzSlots]int
	last  map[string]fuzzEntry
	mover *fuzzMover // tierfs in TestDifferentialMover: runs the mover's operations
	// before, if set, runs before operation i (TestClusterDifferential:
	// picks the host whose mount dir is).
	before func(i int)
	// reval: a rename that fails with ESTALE is tried again once the
	// kernel dropped its unused entries (TestClusterDifferential; see
	// README, Known limits, on directories another host moved);
	// revals counts those.
	reval  bool
	revals int
	// keptLinks, if set, counts the links other hosts keep to
	// non-directory rel (TestClusterDifferential; see README, Known limits): the
	// comparison leaves them out, as each host leaves out its own.
	keptLinks func(rel string) uint64
}

func (r *fuzzRoot) abs(rel string) string { return filepath.Join(r.dir, rel) }

// reset forgets the previous seed's state (its descriptors are closed).
func (r *fuzzRoot) reset() {
	r.closeAll()
	r.last = nil
}

func (r *fuzzRoot) closeAll() {
	for i, fd := range r.fds {
		if fd > 0 {
			unix.Close(fd)
		}
		r.fds[i] = -1
	}
}

// fuzzRun runs one seed's sequence.
func fuzzRun(t *testing.T, seed uint64, ops int, bases []string, tfs, nat *fuzzRoot) {
	t.Helper()
	g := &fuzzGen{rng: rand.New(rand.NewPCG(seed, 0x7469657266)), bases: bases, mover: tfs.mover}
	var done []fuzzOp
	trace := os.Getenv(envFuzzTrace) == "1"
	fail := func(i int, format string, args ...any) {
		t.Helper()
		last := done[max(0, len(done)-30):]
		if os.Getenv(envFuzzMinimize) == "1" {
			last = fuzzMinimize(t, done, fuzzTag(seed), tfs, nat)
		}
		t.Fatalf("seed %d, op %d: %s\n(reproduce: %s=%d %s=%d)\noperations leading to it:\n%s",
			seed, i, fmt.Sprintf(format, args...), envFuzzSeeds, seed, envFuzzOps, ops, formatOps(last))
	}
	for i := range ops {
		if tfs.before != nil {
			tfs.before(i)
		}
		g.existing = fuzzPaths(nat, bases)
		op := g.next()
		done = append(done, op)
		ran, got, want := applyBoth(t, op, tfs, nat)
		if trace {
			t.Logf("TRACE %d %s: %s | %s", i, ran, got, want)
		}
		if !ran.sameResult(got, want) {
			fail(i, "%s: tierfs %s, native %s", ran, got, want)
		}
		if (i+1)%fuzzTreeEvery == 0 || i == ops-1 || op.isMover() {
			if d := compareRoots(t, tfs, nat, bases); d != "" {
				fail(i, "after %s: trees differ: %s", op, d)
			}
		}
	}
}

func formatOps(ops []fuzzOp) string {
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, "  %s\n", op)
	}
	return b.String()
}

// fuzzMinimize shortens a failing sequence (ops, run in the bases named
// by tag) to one that still fails, replaying candidates in fresh bases:
// a debugging aid, turned on by TIERFS_FUZZ_MINIMIZE=1.
func fuzzMinimize(t *testing.T, ops []fuzzOp, tag string, tfs, nat *fuzzRoot) []fuzzOp {
	t.Helper()
	tries := 0
	fails := func(cand []fuzzOp) bool {
		tries++
		to := fmt.Sprintf("m%d", tries)
		bases := fuzzBases(to)
		setupBases(t, bases, tfs, nat)
		for _, op := range cand {
			ran, got, want := applyBoth(t, op.rebased(tag, to), tfs, nat)
			if !ran.sameResult(got, want) {
				return true
			}
		}
		return compareTrees(fuzzSnapshot(t, tfs, bases), fuzzSnapshot(t, nat, bases)) != ""
	}
	for chunk := len(ops) / 2; chunk >= 1; chunk /= 2 {
		for start := 0; start < len(ops)-1; {
			end := min(start+chunk, len(ops)-1) // the failing operation stays
			if cand := slices.Concat(ops[:start], ops[end:]); fails(cand) {
				ops = cand
			} else {
				start = end
			}
		}
	}
	t.Logf("minimized in %d replays", tries)
	return ops
}

// rebased is o with its paths moved from the bases of one tag to another's.
func (o fuzzOp) rebased(from, to string) fuzzOp {
	re := func(p string) string {
		if p == "" {
			return p
		}
		p = strings.Replace(p+"/", "/"+from+"/", "/"+to+"/", 1)
		return p[:len(p)-1]
	}
	o.p, o.q = re(o.p), re(o.q)
	return o
}

// applyBoth runs op in both roots and returns what ran (the mover's
// operations pick their path only while they run) with both results.
func applyBoth(t *testing.T, op fuzzOp, tfs, nat *fuzzRoot) (ran fuzzOp, got, want fuzzResult) {
	t.Helper()
	if op.isMover() {
		return tfs.mover.apply(t, op, tfs, nat)
	}
	got = op.apply(tfs)
	if got.err == unix.ESTALE && tfs.reval && (strings.HasPrefix(op.kind, "rename") || op.kind == "replace") {
		dropCaches(t)
		tfs.revals++
		got = op.apply(tfs)
	}
	want = op.apply(nat)
	if tfs.keptLinks != nil { // link counts: compared in the trees, less the kept links
		got.out, want.out = nlinkField.ReplaceAllString(got.out, ""), nlinkField.ReplaceAllString(want.out, "")
	}
	return op, got, want
}

// nlinkField is the link count in an operation's result (describeStat).
var nlinkField = regexp.MustCompile(` nlink=[0-9]+`)

// fuzzResult is what an operation returned: its errno and, for
// operations that read, what they read.
type fuzzResult struct {
	err unix.Errno
	out string
}

func (r fuzzResult) String() string {
	s := "ok"
	if r.err != 0 {
		s = unix.ErrnoName(r.err)
	}
	if r.out != "" {
		s += " " + r.out
	}
	return s
}

// fuzzOp is one operation; which fields matter depends on kind.
type fuzzOp struct {
	kind  string
	p, q  string // paths relative to the root
	data  []byte
	off   int64
	mode  uint32
	flags int
	slot  int
	name  string // xattr name or symlink target
}

func (o fuzzOp) String() string {
	s := o.kind + " " + o.p
	if o.q != "" {
		s += " → " + o.q
	}
	if o.name != "" {
		s += " name=" + o.name
	}
	return s + fmt.Sprintf(" slot=%d off=%d len=%d mode=%#o flags=%#x", o.slot, o.off, len(o.data), o.mode, o.flags)
}

// sameResult compares the results of o on both roots.
func (o fuzzOp) sameResult(got, want fuzzResult) bool {
	if o.kind == "rename" && o.flags&unix.RENAME_EXCHANGE != 0 && got.err == unix.EINVAL {
		// README, "How it behaves": RENAME_EXCHANGE is EINVAL. The
		// native side undid its exchange (see apply).
		return true
	}
	return got == want
}

// apply runs o in root r.
func (o fuzzOp) apply(r *fuzzRoot) fuzzResult {
	p, q := r.abs(o.p), r.abs(o.q)
	switch o.kind {
	case "mkdir":
		return errResult(unix.Mkdir(p, o.mode))
	case "rmdir":
		return errResult(unix.Rmdir(p))
	case "unlink":
		return errResult(unix.Unlink(p))
	case "create", "trunc", "writeat", "append":
		return writeFile(p, o.flags, o.mode, o.off, o.data)
	case "truncate":
		return errResult(unix.Truncate(p, o.off))
	case "ftruncate":
		return withFd(p, unix.O_WRONLY, func(fd int) fuzzResult { return errResult(unix.Ftruncate(fd, o.off)) })
	case "rename":
		return o.rename(r)
	case "link":
		return errResult(unix.Link(p, q))
	case "symlink":
		return errResult(unix.Symlink(o.name, p))
	case "chmod":
		return errResult(unix.Chmod(p, o.mode))
	case "utimes":
		return utimesResult(p, o.off, o.flags)
	case "setxattr":
		return errResult(unix.Lsetxattr(p, o.name, o.data, o.flags))
	case "getxattr":
		return getxattrResult(p, o.name)
	case "listxattr":
		return listxattrResult(p)
	case "removexattr":
		return errResult(unix.Lremovexattr(p, o.name))
	case "readdir":
		return readdirResult(p)
	case "lstat":
		return statResult(p, unix.Lstat)
	case "stat":
		return statResult(p, unix.Stat)
	case "fdopen":
		return r.fdOpen(o.slot, p, o.flags)
	case "fdclose":
		return r.fdClose(o.slot)
	case "fdread":
		return r.withSlot(o.slot, readFd)
	case "fdwrite":
		return r.withSlot(o.slot, func(fd int) fuzzResult { return pwrite(fd, o.data, o.off) })
	case "fdstat":
		return r.withSlot(o.slot, fstatResult)
	case "fdtruncate":
		return r.withSlot(o.slot, func(fd int) fuzzResult { return errResult(unix.Ftruncate(fd, o.off)) })
	case "openunlink":
		// The data of an open file outlives its last name.
		return withFd(p, unix.O_RDONLY, func(fd int) fuzzResult {
			if err := unix.Unlink(p); err != nil {
				return fuzzResult{err: errnoOf(err), out: "at unlink"}
			}
			return joinResults(readFd(fd), fstatResult(fd))
		})
	case "replace":
		// Dovecot's way to rewrite a file: write a new one, rename it over.
		if res := writeFile(q, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, o.mode, 0, o.data); res.err != 0 {
			return fuzzResult{err: res.err, out: "at create"}
		}
		return errResult(unix.Rename(q, p))
	case "renameover":
		// A descriptor open on a file replaced by rename keeps reading it.
		return withFd(q, unix.O_RDONLY, func(fd int) fuzzResult {
			if err := unix.Rename(p, q); err != nil {
				return fuzzResult{err: errnoOf(err), out: "at rename"}
			}
			return joinResults(readFd(fd), fstatResult(fd))
		})
	}
	panic("unknown op " + o.kind)
}

// rename runs renameat2. A RENAME_EXCHANGE that tierfs refuses (README:
// EINVAL) is undone on the native side by a second exchange, so the trees
// stay comparable.
func (o fuzzOp) rename(r *fuzzRoot) fuzzResult {
	p, q := r.abs(o.p), r.abs(o.q)
	err := unix.Renameat2(unix.AT_FDCWD, p, unix.AT_FDCWD, q, uint(o.flags))
	if err == nil && o.flags&unix.RENAME_EXCHANGE != 0 && r.name == "native" {
		if err := unix.Renameat2(unix.AT_FDCWD, p, unix.AT_FDCWD, q, unix.RENAME_EXCHANGE); err != nil {
			panic(fmt.Sprintf("undo RENAME_EXCHANGE: %v", err))
		}
	}
	return errResult(err)
}

func errResult(err error) fuzzResult {
	return fuzzResult{err: errnoOf(err)}
}

func joinResults(a, b fuzzResult) fuzzResult {
	if a.err != 0 {
		return a
	}
	return fuzzResult{err: b.err, out: a.out + " " + b.out}
}

// withFd opens p, runs fn on the descriptor and closes it.
func withFd(p string, flags int, fn func(fd int) fuzzResult) fuzzResult {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return errResult(err)
	}
	res := fn(fd)
	if err := unix.Close(fd); err != nil && res.err == 0 {
		return errResult(err)
	}
	return res
}

// writeFile opens p with flags (and mode if it creates) and writes data
// at off, or appends it with O_APPEND.
func writeFile(p string, flags int, mode uint32, off int64, data []byte) fuzzResult {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, mode)
	if err != nil {
		return errResult(err)
	}
	defer unix.Close(fd)
	if len(data) == 0 {
		return fuzzResult{}
	}
	if flags&unix.O_APPEND != 0 {
		n, err := unix.Write(fd, data)
		return fuzzResult{err: errnoOf(err), out: fmt.Sprintf("n=%d", n)}
	}
	return pwrite(fd, data, off)
}

func pwrite(fd int, data []byte, off int64) fuzzResult {
	n, err := unix.Pwrite(fd, data, off)
	return fuzzResult{err: errnoOf(err), out: fmt.Sprintf("n=%d", n)}
}

// readFd reads a file from offset 0 (its length and hash), or lists a
// directory from its start.
func readFd(fd int) fuzzResult {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errResult(err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			return errResult(err)
		}
		names, err := getdents(fd)
		return fuzzResult{err: errnoOf(err), out: strings.Join(names, ",")}
	}
	buf := make([]byte, 1<<20)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return errResult(err)
	}
	return fuzzResult{out: fmt.Sprintf("len=%d sha=%s", n, shortHash(buf[:n]))}
}

// getdents lists a directory descriptor, sorted, without "." and "..".
func getdents(fd int) ([]string, error) {
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	slices.Sort(names)
	return names, nil
}

func shortHash(b []byte) string {
	h := sha256.Sum256(b)
	return fmt.Sprintf("%x", h[:6])
}

// statResult reports what a program can rely on: type and permissions,
// and for non-directories size and link count (a directory's size and,
// on tierfs, link count are computed differently: see compareEntry).
func statResult(p string, stat func(string, *unix.Stat_t) error) fuzzResult {
	var st unix.Stat_t
	if err := stat(p, &st); err != nil {
		return errResult(err)
	}
	return fuzzResult{out: describeStat(&st)}
}

func fstatResult(fd int) fuzzResult {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errResult(err)
	}
	return fuzzResult{out: describeStat(&st)}
}

func describeStat(st *unix.Stat_t) string {
	s := fmt.Sprintf("type=%o perm=%#o", st.Mode&unix.S_IFMT>>12, st.Mode&0o7777)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		s += fmt.Sprintf(" size=%d nlink=%d", st.Size, st.Nlink)
	}
	return s
}

// utimes sets fixed times (sec, sec+1 with nanoseconds) and reports the
// mtime stat then shows.
func utimesResult(p string, sec int64, flags int) fuzzResult {
	ts := []unix.Timespec{{Sec: sec, Nsec: 123456789}, {Sec: sec + 1, Nsec: 987654321}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, flags); err != nil {
		return errResult(err)
	}
	var st unix.Stat_t
	stat := unix.Stat
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		stat = unix.Lstat
	}
	if err := stat(p, &st); err != nil {
		return errResult(err)
	}
	return fuzzResult{out: fmt.Sprintf("mtime=%d.%09d", st.Mtim.Sec, st.Mtim.Nsec)}
}

func getxattrResult(p, name string) fuzzResult {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return errResult(err)
	}
	return fuzzResult{out: fmt.Sprintf("%q", buf[:n])}
}

func listxattrResult(p string) fuzzResult {
	names, err := xattrNames(p)
	return fuzzResult{err: errnoOf(err), out: strings.Join(names, ",")}
}

// xattrNames lists p's extended attribute names, sorted.
func xattrNames(p string) ([]string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, b := range bytes.Split(buf[:n], []byte{0}) {
		if len(b) > 0 {
			names = append(names, string(b))
		}
	}
	slices.Sort(names)
	return names, nil
}

func readdirResult(p string) fuzzResult {
	return withFd(p, unix.O_RDONLY|unix.O_DIRECTORY, func(fd int) fuzzResult {
		names, err := getdents(fd)
		return fuzzResult{err: errnoOf(err), out: strings.Join(names, ",")}
	})
}

// fdOpen opens p into a slot, closing what the slot held.
func (r *fuzzRoot) fdOpen(slot int, p string, flags int) fuzzResult {
	r.fdClose(slot)
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return errResult(err)
	}
	r.fds[slot] = fd
	return fuzzResult{}
}

func (r *fuzzRoot) fdClose(slot int) fuzzResult {
	fd := r.fds[slot]
	if fd < 0 {
		return fuzzResult{out: "empty"}
	}
	r.fds[slot] = -1
	return errResult(unix.Close(fd))
}

func (r *fuzzRoot) withSlot(slot int, fn func(fd int) fuzzResult) fuzzResult {
	if r.fds[slot] < 0 {
		return fuzzResult{out: "empty"}
	}
	return fn(r.fds[slot])
}

// fuzzGen draws operations. Paths come from the native tree as it is
// (existing), from its directories plus a name, or are made up from the
// pool, so that most operations hit something and collisions are common.
type fuzzGen struct {
	rng      *rand.Rand
	bases    []string
	existing []fuzzPath
	mover    *fuzzMover // also draw the mover's operations
}

type fuzzPath struct {
	rel  string
	dir  bool
	base bool
}

// fuzzPaths lists the paths below bases in root r, sorted.
func fuzzPaths(r *fuzzRoot, bases []string) []fuzzPath {
	var out []fuzzPath
	for _, b := range bases {
		filepath.WalkDir(r.abs(b), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(r.dir, p)
			// A base is a directory to draw names in, never a path to draw.
			out = append(out, fuzzPath{rel: rel, dir: d.IsDir(), base: rel == b})
			return nil
		})
	}
	return out
}

func (g *fuzzGen) pick(n int) int { return g.rng.IntN(n) }

func (g *fuzzGen) name() string { return fuzzNames[g.pick(len(fuzzNames))] }

// path draws a path: an existing one, a name in an existing directory,
// or one made up up to three levels below a base.
func (g *fuzzGen) path() string {
	switch r := g.pick(10); {
	case r < 4 && len(g.existing) > len(g.bases):
		if e := g.existing[g.pick(len(g.existing))]; !e.base {
			return e.rel
		}
	case r < 7:
		var dirs []string
		for _, e := range g.existing {
			if e.dir && strings.Count(e.rel, "/") < strings.Count(g.bases[0], "/")+3 {
				dirs = append(dirs, e.rel)
			}
		}
		if len(dirs) > 0 {
			return dirs[g.pick(len(dirs))] + "/" + g.name()
		}
	}
	p := g.bases[g.pick(len(g.bases))]
	for range 1 + g.pick(3) {
		p += "/" + g.name()
	}
	return p
}

// data is a few bytes to a few KiB of recognisable content.
func (g *fuzzGen) data() []byte {
	n := []int{0, 1, 7, 100, 4096, 5000}[g.pick(6)]
	b := make([]byte, n)
	c := byte('a' + g.pick(26))
	for i := range b {
		b[i] = c + byte(i%7)
	}
	return b
}

func (g *fuzzGen) offset() int64 { return []int64{0, 0, 1, 100, 4095, 9000}[g.pick(6)] }

func (g *fuzzGen) mode(modes ...uint32) uint32 { return modes[g.pick(len(modes))] }

func (g *fuzzGen) xattrName() string {
	return []string{"user.x", "user.y", "user.mail.flags"}[g.pick(3)]
}

// symlinkTarget names something below the link's own directory (or
// nothing), so no link leads out of the compared trees.
func (g *fuzzGen) symlinkTarget() string {
	switch g.pick(3) {
	case 0:
		return g.name()
	case 1:
		return g.name() + "/" + g.name()
	}
	return "missing"
}

// next draws one operation.
func (g *fuzzGen) next() fuzzOp {
	const creat = unix.O_CREAT
	if g.mover != nil {
		switch g.pick(fuzzMoverEvery) {
		case 0:
			return g.moverOp()
		case 1, 2:
			return g.ageOp()
		}
	}
	switch g.pick(34) {
	case 0, 1, 2:
		return fuzzOp{kind: "mkdir", p: g.path(), mode: g.mode(0o755, 0o700, 0o777, 0o2775)}
	case 3, 4:
		return fuzzOp{kind: "rmdir", p: g.path()}
	case 5, 6, 7:
		flags := []int{creat | unix.O_EXCL | unix.O_WRONLY, creat | unix.O_WRONLY, creat | unix.O_RDWR | unix.O_TRUNC}[g.pick(3)]
		return fuzzOp{kind: "create", p: g.path(), flags: flags, mode: g.mode(0o644, 0o600, 0o666, 0o755), data: g.data(), off: g.offset()}
	case 8:
		return fuzzOp{kind: "trunc", p: g.path(), flags: unix.O_WRONLY | unix.O_TRUNC, data: g.data()}
	case 9:
		return fuzzOp{kind: "writeat", p: g.path(), flags: unix.O_WRONLY, data: g.data(), off: g.offset()}
	case 10:
		return fuzzOp{kind: "append", p: g.path(), flags: unix.O_WRONLY | unix.O_APPEND, data: g.data()}
	case 11:
		return fuzzOp{kind: "truncate", p: g.path(), off: g.offset()}
	case 12:
		return fuzzOp{kind: "ftruncate", p: g.path(), off: g.offset()}
	case 13, 14:
		return fuzzOp{kind: "unlink", p: g.path()}
	case 15, 16, 17:
		flags := []int{0, 0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE}[g.pick(4)]
		return fuzzOp{kind: "rename", p: g.path(), q: g.path(), flags: flags}
	case 18:
		return fuzzOp{kind: "link", p: g.path(), q: g.path()}
	case 19:
		return fuzzOp{kind: "symlink", p: g.path(), name: g.symlinkTarget()}
	case 20:
		return fuzzOp{kind: "chmod", p: g.path(), mode: g.mode(0o600, 0o644, 0o755, 0o700, 0o640, 0o2755)}
	case 21:
		return fuzzOp{kind: "utimes", p: g.path(), off: fuzzUtimesBase + int64(g.pick(1000)), flags: []int{0, unix.AT_SYMLINK_NOFOLLOW}[g.pick(2)]}
	case 22:
		flags := []int{0, 0, unix.XATTR_CREATE, unix.XATTR_REPLACE}[g.pick(4)]
		d := g.data()
		return fuzzOp{kind: "setxattr", p: g.path(), name: g.xattrName(), data: d[:min(len(d), 100)], flags: flags}
	case 23:
		return fuzzOp{kind: "getxattr", p: g.path(), name: g.xattrName()}
	case 24:
		return fuzzOp{kind: "listxattr", p: g.path()}
	case 25:
		return fuzzOp{kind: "removexattr", p: g.path(), name: g.xattrName()}
	case 26:
		return fuzzOp{kind: "readdir", p: g.path()}
	case 27:
		return fuzzOp{kind: []string{"lstat", "stat"}[g.pick(2)], p: g.path()}
	case 28:
		flags := []int{unix.O_RDONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_DIRECTORY, unix.O_WRONLY | unix.O_APPEND}[g.pick(4)]
		return fuzzOp{kind: "fdopen", p: g.path(), slot: g.pick(fuzzSlots), flags: flags}
	case 29:
		return fuzzOp{kind: "fdclose", slot: g.pick(fuzzSlots)}
	case 30:
		return fuzzOp{kind: []string{"fdread", "fdstat"}[g.pick(2)], slot: g.pick(fuzzSlots)}
	case 31:
		if g.pick(2) == 0 {
			return fuzzOp{kind: "fdtruncate", slot: g.pick(fuzzSlots), off: g.offset()}
		}
		return fuzzOp{kind: "fdwrite", slot: g.pick(fuzzSlots), data: g.data(), off: g.offset()}
	case 32:
		return fuzzOp{kind: "openunlink", p: g.path()}
	default:
		return fuzzOp{kind: "renameover", p: g.path(), q: g.path()}
	}
}

// fuzzEntry is what the tree comparison looks at for one path.
type fuzzEntry struct {
	typ    uint32
	perm   uint32
	size   int64
	nlink  uint64
	subdir int    // directories: how many entries are directories
	hash   string // regular files: content; symlinks: target
	xattrs string
	ino    uint64
	mtime  unix.Timespec
	kept   bool   // tierfs: a moved file showing the number it kept from another tier
	tier   string // tierfs: the tier of a file (user.tierfs.tier)
}

// fuzzSnapshot records every path below bases in root r.
func fuzzSnapshot(t *testing.T, r *fuzzRoot, bases []string) map[string]fuzzEntry {
	t.Helper()
	out := map[string]fuzzEntry{}
	for _, b := range bases {
		if err := snapshotPath(r, b, out); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
	return out
}

func snapshotPath(r *fuzzRoot, rel string, out map[string]fuzzEntry) error {
	p := r.abs(rel)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return fmt.Errorf("lstat %s: %w", rel, err)
	}
	e := fuzzEntry{typ: st.Mode & unix.S_IFMT, perm: st.Mode & 0o7777, size: st.Size, nlink: uint64(st.Nlink), ino: st.Ino, mtime: st.Mtim}
	names, err := xattrNames(p)
	if err != nil {
		return fmt.Errorf("listxattr %s: %w", rel, err)
	}
	for _, n := range names {
		buf := make([]byte, 4096)
		sz, err := unix.Lgetxattr(p, n, buf)
		if err != nil {
			return fmt.Errorf("getxattr %s %s: %w", rel, n, err)
		}
		e.xattrs += fmt.Sprintf("%s=%q;", n, buf[:sz])
	}
	if r.keptLinks != nil && e.typ != unix.S_IFDIR {
		e.nlink -= r.keptLinks(rel)
	}
	switch e.typ {
	case unix.S_IFREG:
		e.tier = tierOf(p)
		e.kept = r.keptIno(rel, e.tier, st.Ino)
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		e.hash = shortHash(data)
	case unix.S_IFLNK:
		if e.hash, err = os.Readlink(p); err != nil {
			return fmt.Errorf("readlink %s: %w", rel, err)
		}
	case unix.S_IFDIR:
		ents, err := os.ReadDir(p)
		if err != nil {
			return fmt.Errorf("readdir %s: %w", rel, err)
		}
		var list []string
		for _, d := range ents {
			list = append(list, d.Name())
			if d.IsDir() {
				e.subdir++
			}
			if err := snapshotPath(r, rel+"/"+d.Name(), out); err != nil {
				return err
			}
		}
		e.hash = strings.Join(list, ",")
	}
	out[rel] = e
	return nil
}

// compareRoots compares the trees of both roots and checks that inode
// numbers stayed with their files since the last comparison.
func compareRoots(t *testing.T, tfs, nat *fuzzRoot, bases []string) string {
	t.Helper()
	a, b := fuzzSnapshot(t, tfs, bases), fuzzSnapshot(t, nat, bases)
	if d := compareTrees(a, b); d != "" {
		return d
	}
	if d := compareStability(tfs.last, a, nat.last, b); d != "" {
		return d
	}
	tfs.last, nat.last = a, b
	return ""
}

// compareTrees compares two snapshots path by path, then the hard-link
// structure: which paths share an inode number within each tree.
func compareTrees(a, b map[string]fuzzEntry) string {
	for _, p := range slices.Sorted(maps.Keys(b)) {
		ea, ok := a[p]
		if !ok {
			return fmt.Sprintf("%s: missing on tierfs", p)
		}
		if d := compareEntry(ea, b[p]); d != "" {
			return fmt.Sprintf("%s: %s", p, d)
		}
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			return fmt.Sprintf("%s: only on tierfs", p)
		}
	}
	return compareLinks(a, b)
}

// compareLinks compares which paths share an inode: paths that are one
// file natively must share their number on tierfs, and paths of
// different files must not, but for moved files: README, "Known
// limits", a file the mover moved keeps its number, which the tier it
// left may give to a new file (which may be moved in turn). Of the files
// sharing a number on tierfs, at most one may show a number that is not
// kept.
func compareLinks(a, b map[string]fuzzEntry) string {
	gb := inoGroups(b)
	owners := map[uint64]map[string]bool{} // tierfs number → native groups showing it
	for _, p := range slices.Sorted(maps.Keys(b)) {
		if g := gb[p]; a[p].ino != a[g].ino {
			return fmt.Sprintf("%s and %s are one file natively, have st_ino %#x and %#x on tierfs", p, g, a[p].ino, a[g].ino)
		}
		if owners[a[p].ino] == nil {
			owners[a[p].ino] = map[string]bool{}
		}
		owners[a[p].ino][gb[p]] = owners[a[p].ino][gb[p]] || !a[p].kept
	}
	for _, ino := range slices.Sorted(maps.Keys(owners)) {
		groups, own := owners[ino], 0
		for _, notKept := range groups {
			if notKept {
				own++
			}
		}
		if len(groups) > 1 && own > 1 {
			return fmt.Sprintf("different files %v share st_ino %#x on tierfs", slices.Sorted(maps.Keys(groups)), ino)
		}
	}
	return ""
}

// compareEntry compares one path. Not compared, as accepted differences:
// st_ino values (only which paths share them, see compareTrees), a
// directory's st_size (tierfs shows one copy's, a native tmpfs counts
// entries), atime, and mtimes other than those a utimes operation set
// (the two trees' clocks run at different moments; a directory's
// changes with every entry, and on tierfs with a move's copy too). A directory's st_nlink is tierfs's sum over its
// copies (fs/attr.go mergeDirStat: 2 + Σ(nlink_i − 2), a subdirectory on
// several tiers counted once per tier, on purpose: "too many is safe, too
// few is not"); it must be at least the native 2 + subdirectories.
func compareEntry(a, b fuzzEntry) string {
	switch {
	case a.typ != b.typ:
		return fmt.Sprintf("type %o on tierfs, %o natively", a.typ>>12, b.typ>>12)
	case a.perm != b.perm:
		return fmt.Sprintf("mode %#o on tierfs, %#o natively", a.perm, b.perm)
	case a.hash != b.hash:
		return fmt.Sprintf("content/target/entries %q on tierfs, %q natively", a.hash, b.hash)
	case a.xattrs != b.xattrs:
		return fmt.Sprintf("xattrs %q on tierfs, %q natively", a.xattrs, b.xattrs)
	case a.typ == unix.S_IFDIR:
		if a.nlink < b.nlink {
			return fmt.Sprintf("directory st_nlink %d on tierfs, %d natively", a.nlink, b.nlink)
		}
	case fuzzSetMtime(b.mtime) && a.mtime != b.mtime && !newer(a.mtime, b.mtime):
		// A newer mtime on tierfs is accepted: truncate(2) to the same
		// size leaves mtime natively on tmpfs, but tierfs truncates
		// with ftruncate, which always sets it (fs/attr.go setattrOn,
		// tiers.Tier.Truncate). A pass that changes an mtime is caught
		// by passChanged.
		return fmt.Sprintf("mtime %d.%09d on tierfs, %d.%09d natively", a.mtime.Sec, a.mtime.Nsec, b.mtime.Sec, b.mtime.Nsec)
	case a.size != b.size:
		return fmt.Sprintf("size %d on tierfs, %d natively", a.size, b.size)
	case a.nlink != b.nlink:
		return fmt.Sprintf("st_nlink %d on tierfs, %d natively", a.nlink, b.nlink)
	}
	return ""
}

func newer(a, b unix.Timespec) bool {
	return a.Sec > b.Sec || a.Sec == b.Sec && a.Nsec > b.Nsec
}

// fuzzSetMtime reports whether mtime is one a utimes operation set
// (utimesResult: sec+1 in 1.6e9 + [0, 1000]).
func fuzzSetMtime(mtime unix.Timespec) bool {
	return mtime.Sec > fuzzUtimesBase && mtime.Sec <= fuzzUtimesBase+1000 && mtime.Nsec == 987654321
}

// inoGroups maps every path to the first path (in sorted order) with its
// inode number.
func inoGroups(s map[string]fuzzEntry) map[string]string {
	first := map[uint64]string{}
	out := map[string]string{}
	for _, p := range slices.Sorted(maps.Keys(s)) {
		ino := s[p].ino
		if _, ok := first[ino]; !ok {
			first[ino] = p
		}
		out[p] = first[ino]
	}
	return out
}

// tierOf is the tier tierfs names for file p, "" natively.
func tierOf(p string) string {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, "user.tierfs.tier", buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// keptIno reports whether file rel, with st_ino ino, is on tierfs a
// file the mover moved, showing the number it kept rather than the one
// of its backing file (fs/node.go ino: the tier index plus one in the
// top byte, the backing number below). Only the mover's test moves
// files.
func (r *fuzzRoot) keptIno(rel, tier string, ino uint64) bool {
	if r.mover == nil || tier == "" {
		return false
	}
	f := r.mover.f
	var st unix.Stat_t
	if unix.Lstat(f.tierPath(tier, rel), &st) != nil {
		return false
	}
	ti := slices.Index(f.order, tier)
	return ino != uint64(ti+1)<<56|st.Ino
}

// compareStability checks that a file that natively kept its inode
// number since the previous snapshot (under its path or another, after a
// rename) kept it on tierfs too. The converse is not checked: a backing
// filesystem may reuse a deleted file's number, as may a native one.
func compareStability(prevA, curA, prevB, curB map[string]fuzzEntry) string {
	if prevA == nil {
		return ""
	}
	byIno := map[uint64][]string{}
	for p, e := range curB {
		byIno[e.ino] = append(byIno[e.ino], p)
	}
	for _, pp := range slices.Sorted(maps.Keys(prevB)) {
		for _, cp := range byIno[prevB[pp].ino] {
			if prevB[pp].typ != curB[cp].typ {
				continue // natively reused by another file
			}
			if prevA[pp].ino != curA[cp].ino {
				return fmt.Sprintf("%s (st_ino %#x at the last check) is now %s with st_ino %#x on tierfs; natively the same file", pp, prevA[pp].ino, cp, curA[cp].ino)
			}
		}
	}
	return ""
}
