package integration

import (
	"encoding/json"
	"errors"
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

// env names of the randomized outage test: which seeds run (as for
// TIERFS_CRASH_SEEDS) and how many operations each seed makes.
const (
	envOutageSeeds = "TIERFS_OUTAGE_SEEDS"
	envOutageOps   = "TIERFS_OUTAGE_OPS"
)

const (
	outageDefaultSeeds = 3
	outageDefaultOps   = 100
	outageWait         = 10 * time.Second // a probe notices an outage within this
)

// The ways an operator meets a tier going away: the filesystem under it
// lazily unmounted, the tier directory replaced by an empty one (an
// unmounted NFS export), its marker removed or replaced by another
// tier's. The health probe re-reads the marker every few seconds, so a
// marker change takes the tier down like the others (README, "How it
// behaves").
const (
	outLazy        = "lazy-umount"
	outEmpty       = "empty-dir"
	outNoMarker    = "marker-removed"
	outOtherMarker = "marker-replaced"
)

var outageModes = []string{outLazy, outEmpty, outNoMarker, outOtherMarker}

// outageDirs are the directories of the workload, made at the start.
var outageDirs = []string{
	mvUserDir + "/tmp", mvUserDir + "/new", mvUserDir + "/cur",
	"archive/alice", "volatile/f5/alice", "index/f5/alice",
}

// TestOutageFuzz runs seeded random mail workloads (deliveries through
// tmp/ into new/ and cur/, flag renames, archiving, reads, appends,
// unlinks, listings, lock files, aging and mover passes) while tiers, each
// on a tmpfs of its own, go away and come back in the ways an operator
// meets. It checks the fail-closed promise at every step against a
// model: an operation that needs a down tier gets EIO, never ENOENT or
// other content; a listing that would miss mail fails; nothing is
// written beneath a vanished tier; the mover leaves a down tier alone
// and says so; and once the tier is back, and after a remount, the tree
// is the model's, every file once on its tier, and tierfs check is clean.
func TestOutageFuzz(t *testing.T) {
	seeds, ops := fusetest.EnvSeeds(t, envOutageSeeds, outageDefaultSeeds), fusetest.EnvCount(t, envOutageOps, outageDefaultOps)
	start := time.Now()
	var total outageStats
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			total.add(outageSeed(t, seed, ops))
		})
	}
	t.Logf("%d seeds × %d operations in %v: %+v", len(seeds), ops, time.Since(start).Round(time.Millisecond), total)
}

// outageStats counts what a run exercised; Unneeded counts the EIO
// answers to operations that did not need the lost tier.
type outageStats struct {
	Outages, OpsWhileDown, EIO, Unneeded, Passes, PassesWhileDown, Moved int
	ByMode                                                               map[string]int
}

func (s *outageStats) add(o outageStats) {
	s.Outages += o.Outages
	s.OpsWhileDown += o.OpsWhileDown
	s.EIO += o.EIO
	s.Unneeded += o.Unneeded
	s.Passes += o.Passes
	s.PassesWhileDown += o.PassesWhileDown
	s.Moved += o.Moved
	if s.ByMode == nil {
		s.ByMode = map[string]int{}
	}
	for k, v := range o.ByMode {
		s.ByMode[k] += v
	}
}

// outageTier is a tier on its own tmpfs: mnt is the tmpfs mount point,
// dir the tier directory on it, hold a second mount of the tmpfs that
// keeps it while mnt is lazily unmounted.
type outageTier struct{ name, mnt, dir, hold string }

// outageFile is a file of the model.
type outageFile struct {
	content []byte
	tier    string
	ino     uint64
}

// outageRun is one seed's state.
type outageRun struct {
	t     *testing.T
	f     *fixture
	rng   *rand.Rand
	seed  uint64
	step  int
	tiers map[string]*outageTier
	files map[string]*outageFile
	next  int

	down     string // the tier taken away ("" for none)
	mode     string
	detected bool           // the daemon reports the tier down
	saved    []byte         // the marker a marker outage took away
	downs    map[string]int // "tier is down" lines of the tier logged so far
	ups      map[string]int // "tier is back" lines
	stats    outageStats
}

func outageSeed(t *testing.T, seed uint64, ops int) outageStats {
	o := newOutageRun(t, seed)
	for _, d := range outageDirs {
		o.f.mkdirAll(t, d)
	}
	for o.step = 0; o.step < ops; o.step++ {
		o.randomOp()
		o.checkUncovered()
	}
	if o.down != "" {
		o.restore()
	}
	o.pass()
	o.verifyAll("after the last outage")
	o.f.unmount(t)
	o.f.mount(t)
	o.verifyAll("after a remount")
	o.f.unmount(t)
	out, _ := mvCheck(t, o.f, "--config", o.f.cfgPath)
	if bad := checkProblems(out, o.f); len(bad) > 0 {
		o.fatalf("tierfs check after the sequence: %q\n%s", bad, out)
	}
	return o.stats
}

// newOutageRun mounts tierfs on tiers that each have a tmpfs of their
// own (mvConfig's layout: mail ages from fast to slow, archive/ is on
// slow, volatile/ on tmp); even seeds with no kernel caching, every
// third with slow of kind nfs.
func newOutageRun(t *testing.T, seed uint64) *outageRun {
	o := &outageRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6f75746167)),
		tiers: map[string]*outageTier{}, files: map[string]*outageFile{}, stats: outageStats{ByMode: map[string]int{}},
		downs: map[string]int{}, ups: map[string]int{}}
	cfg := mvConfig("")
	if seed%2 == 0 {
		// Every access looks its directories up and stats them again,
		// as once the kernel's timeouts ran out during a long outage.
		cfg.Extra += "\n[kernel]\nentry_timeout = \"0s\"\nattr_timeout = \"0s\"\n"
	}
	if seed%3 == 0 {
		cfg.Tiers[2].Kind = "nfs" // lookups there go through the metadata cache and name indexes
	}
	base := t.TempDir()
	for i, ts := range cfg.Tiers {
		ot := &outageTier{name: ts.Name, mnt: filepath.Join(base, ts.Name), hold: filepath.Join(base, ts.Name+".hold")}
		ot.dir = filepath.Join(ot.mnt, "t")
		for _, d := range []string{ot.mnt, ot.hold} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		outageMount(t, "-t", "tmpfs", "-o", "size=64m,mode=0755", "tierfs-outage", ot.mnt)
		t.Cleanup(func() { unmountPath(t, ot.hold); unmountPath(t, ot.mnt) })
		if err := os.Mkdir(ot.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg.Tiers[i].Path = ot.dir
		o.tiers[ts.Name] = ot
	}
	o.f = newFixture(t, cfg)
	o.f.mount(t)
	return o
}

func outageMount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v\n%s", args, err, out)
	}
}

func (o *outageRun) fatalf(format string, args ...any) {
	o.t.Helper()
	o.t.Fatalf("seed %d step %d (%s=%d, %s=%d; tier down: %q, %s): %s", o.seed, o.step, envOutageSeeds, o.seed,
		envOutageOps, fusetest.EnvCount(o.t, envOutageOps, outageDefaultOps), o.down, o.mode, fmt.Sprintf(format, args...))
}

// randomOp runs one operation of the workload, or starts or ends an
// outage.
func (o *outageRun) randomOp() {
	if o.down != "" {
		o.stats.OpsWhileDown++
	}
	switch r := o.rng.IntN(100); {
	case r < 6:
		if o.down == "" {
			o.takeDown()
		} else {
			o.restore()
		}
	case r < 20:
		o.deliver()
	case r < 30:
		o.flag()
	case r < 35:
		o.archive()
	case r < 47:
		o.read()
	case r < 52:
		o.stat()
	case r < 58:
		o.appendTo()
	case r < 63:
		o.unlink()
	case r < 73:
		o.list()
	case r < 80:
		o.lock()
	case r < 94:
		o.age()
	default:
		o.pass()
	}
}

// placement is the tier mvConfig's rules give a new file.
func placement(rel string) string {
	switch {
	case strings.HasPrefix(rel, "volatile/"):
		return "tmp"
	case strings.HasPrefix(rel, "archive/"):
		return "slow"
	}
	return "fast"
}

// isDown reports whether tier is down as far as the test must insist on
// EIO: taken away and reported down by the daemon.
func (o *outageRun) isDown(tier string) bool {
	return tier != "" && tier == o.down && o.detected
}

// lenient reports whether an outage is under way that may fail an
// operation of tiers: one of them is taken away (noticed or not).
func (o *outageRun) lenient(tiers []string) bool {
	return o.down != "" && slices.Contains(tiers, o.down)
}

// judge checks err of an operation: must are the tiers it cannot do
// without (EIO when one is down), maybe those it may need (EIO allowed
// when one is down). It reports whether the operation took effect.
func (o *outageRun) judge(what string, err error, must, maybe []string) bool {
	o.t.Helper()
	mustDown := slices.ContainsFunc(must, o.isDown)
	switch {
	case err == nil && mustDown:
		o.fatalf("%s succeeded although tier %s it needs is down", what, o.down)
	case err == nil:
		return true
	case errors.Is(err, unix.EIO) && (mustDown || o.lenient(append(slices.Clone(must), maybe...))):
		o.stats.EIO++
		return false
	case errors.Is(err, unix.EIO) && o.lenient(o.f.order):
		// A directory above whose node the kernel let tierfs forget
		// (memory pressure) cannot be looked up without the lost tier
		// (README, "How it behaves"): safe, but counted.
		o.stats.Unneeded++
		return false
	case errors.Is(err, unix.EIO):
		o.fatalf("%s: EIO, but no tier it needs (%v, %v) is down", what, must, maybe)
	}
	o.fatalf("%s: %s, want success or EIO (tiers %v, %v)", what, errName(err), must, maybe)
	return false
}

// loc is where tier's data is now (outside tierfs).
func (o *outageRun) loc(tier string) string {
	ot := o.tiers[tier]
	if tier == o.down {
		switch o.mode {
		case outLazy:
			return filepath.Join(ot.hold, "t")
		case outEmpty:
			return ot.dir + ".away"
		}
	}
	return ot.dir
}

// holding lists the tiers whose data holds rel.
func (o *outageRun) holding(rel string) []string {
	var out []string
	for _, name := range o.f.order {
		if fileExists(filepath.Join(o.loc(name), rel)) {
			out = append(out, name)
		}
	}
	return out
}

// pick returns a random file of the model under prefix ("" if none),
// during an outage every other time one on the tier taken away.
func (o *outageRun) pick(prefix string) string {
	var names []string
	onDown := o.down != "" && o.rng.IntN(2) == 0 // aim at the lost tier
	for rel, f := range o.files {
		if strings.HasPrefix(rel, prefix) && (!onDown || f.tier == o.down) {
			names = append(names, rel)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[o.rng.IntN(len(names))]
}

func (o *outageRun) name() string {
	o.next++
	return fmt.Sprintf("%d.M%dP%d.host", 1700000000+o.next, o.seed, o.next)
}

// create makes rel with content through the mount, as a delivery or a
// lock file does (O_EXCL).
func (o *outageRun) create(rel string, content []byte) bool {
	o.t.Helper()
	tier := placement(rel)
	fd, err := unix.Open(o.f.path(rel), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o600)
	if !o.judge("create "+rel, err, []string{tier}, o.holding(path.Dir(rel))) {
		o.noneAt(rel)
		return false
	}
	_, werr := unix.Write(fd, content)
	serr := unix.Fsync(fd)
	cerr := unix.Close(fd)
	if err := errors.Join(werr, serr, cerr); err != nil {
		o.fatalf("write %s after its create: %v", rel, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(o.f.path(rel), &st); err != nil {
		o.fatalf("stat %s after its create: %s", rel, errName(err))
	}
	o.files[rel] = &outageFile{content: content, tier: tier, ino: st.Ino}
	if got := o.holding(rel); len(got) != 1 || got[0] != tier {
		o.fatalf("created %s is on tiers %v, want [%s]", rel, got, tier)
	}
	return true
}

// noneAt checks that a create that failed left nothing on any tier.
func (o *outageRun) noneAt(rel string) {
	o.t.Helper()
	if got := o.holding(rel); len(got) != 0 {
		o.fatalf("failed create of %s left it on tiers %v", rel, got)
	}
}

func (o *outageRun) deliver() {
	n := o.name()
	tmp := mvUserDir + "/tmp/" + n
	if !o.create(tmp, mvContent(n, 200+o.rng.IntN(3000))) {
		return
	}
	o.rename(tmp, mvUserDir+"/new/"+n)
}

// rename renames a file of the model; it stays on its tier.
func (o *outageRun) rename(from, to string) {
	o.t.Helper()
	f := o.files[from]
	if _, ok := o.files[to]; ok || f == nil {
		return
	}
	err := unix.Rename(o.f.path(from), o.f.path(to))
	maybe := append(o.holding(path.Dir(from)), o.holding(path.Dir(to))...)
	if !o.judge("rename "+from+" to "+to, err, []string{f.tier}, maybe) {
		return
	}
	delete(o.files, from)
	o.files[to] = f
}

// flag renames a message in new/ or cur/ to cur/ with another flag set.
func (o *outageRun) flag() {
	rel := o.pick(mvUserDir + "/new/")
	if rel == "" || o.rng.IntN(2) == 0 {
		rel = o.pick(mvUserDir + "/cur/")
	}
	if rel == "" {
		return
	}
	base, _, _ := strings.Cut(path.Base(rel), ":")
	flags := []string{"S", "RS", "FS", "ST"}[o.rng.IntN(4)]
	o.rename(rel, mvUserDir+"/cur/"+base+":2,"+flags)
}

// archive renames a message to archive/, where the rules want it on slow.
func (o *outageRun) archive() {
	if rel := o.pick(mvUserDir + "/cur/"); rel != "" {
		o.rename(rel, "archive/alice/"+path.Base(rel))
	}
}

func (o *outageRun) read() {
	rel := o.pick("")
	if rel == "" {
		return
	}
	f := o.files[rel]
	got, err := os.ReadFile(o.f.path(rel))
	if o.judge("read "+rel, err, []string{f.tier}, o.holding(path.Dir(rel))) && string(got) != string(f.content) {
		o.fatalf("read %s (on %s): %d bytes that differ from the %d written", rel, f.tier, len(got), len(f.content))
	}
}

// stat may be answered from the kernel's attribute cache while the
// invalidation of a tier that went down is on its way: a success must
// show the file's size.
func (o *outageRun) stat() {
	rel := o.pick("")
	if rel == "" {
		return
	}
	f := o.files[rel]
	var st unix.Stat_t
	err := unix.Lstat(o.f.path(rel), &st)
	if o.judge("stat "+rel, err, nil, append(o.holding(path.Dir(rel)), f.tier)) && (st.Size != int64(len(f.content)) || st.Ino != f.ino) {
		o.fatalf("stat %s: size %d ino %d, want %d and %d", rel, st.Size, st.Ino, len(f.content), f.ino)
	}
}

func (o *outageRun) appendTo() {
	rel := o.pick("")
	if rel == "" {
		return
	}
	f := o.files[rel]
	fd, err := unix.Open(o.f.path(rel), unix.O_WRONLY|unix.O_APPEND, 0)
	if !o.judge("open to append "+rel, err, []string{f.tier}, o.holding(path.Dir(rel))) {
		return
	}
	line := fmt.Appendf(nil, "appended at step %d\n", o.step)
	_, werr := unix.Write(fd, line)
	if err := errors.Join(werr, unix.Close(fd)); err != nil {
		o.fatalf("append to %s: %v", rel, err)
	}
	f.content = append(f.content, line...)
}

func (o *outageRun) unlink() {
	rel := o.pick("")
	if rel == "" {
		return
	}
	f := o.files[rel]
	err := unix.Unlink(o.f.path(rel))
	if !o.judge("unlink "+rel, err, []string{f.tier}, o.holding(path.Dir(rel))) {
		if got := o.holding(rel); !slices.Equal(got, []string{f.tier}) {
			o.fatalf("failed unlink of %s: on tiers %v, want [%s]", rel, got, f.tier)
		}
		return
	}
	delete(o.files, rel)
	if got := o.holding(rel); len(got) != 0 {
		o.fatalf("unlinked %s is still on tiers %v", rel, got)
	}
}

// list reads a directory of the workload: it succeeds with exactly the
// model's names or fails with EIO, and it must fail when one of its
// files is on the down tier (a listing without it would drop mail).
func (o *outageRun) list() {
	dir := outageDirs[o.rng.IntN(len(outageDirs))]
	want := o.namesIn(dir)
	var must []string
	for _, n := range want {
		must = append(must, o.files[dir+"/"+n].tier)
	}
	got, err := outageReadDir(o.f.path(dir))
	if o.judge("list "+dir, err, must, o.holding(dir)) && !slices.Equal(got, want) {
		o.fatalf("list %s: %q, want %q", dir, got, want)
	}
}

func outageReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// namesIn lists the model's files directly in dir, sorted.
func (o *outageRun) namesIn(dir string) []string {
	names := []string{}
	for rel := range o.files {
		if path.Dir(rel) == dir {
			names = append(names, path.Base(rel))
		}
	}
	slices.Sort(names)
	return names
}

// lock takes or drops a lock file the way Dovecot does: volatile ones on
// tmp, index ones on fast.
func (o *outageRun) lock() {
	dir := []string{"volatile/f5/alice", "index/f5/alice"}[o.rng.IntN(2)]
	rel := dir + "/dovecot.lock"
	if _, ok := o.files[rel]; ok {
		err := unix.Unlink(o.f.path(rel))
		if o.judge("unlock "+rel, err, []string{o.files[rel].tier}, o.holding(dir)) {
			delete(o.files, rel)
		}
		return
	}
	o.create(rel, fmt.Appendf(nil, "%d\n", o.step))
}

// age makes a message 40 days old, so that the next pass demotes it.
func (o *outageRun) age() {
	rel := o.pick(mvUserDir + "/cur/")
	if rel == "" {
		return
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	err := os.Chtimes(o.f.path(rel), old, old)
	o.judge("age "+rel, err, []string{o.files[rel].tier}, o.holding(path.Dir(rel)))
}

// outagePass is the part of `tierfs migrate --json` the test reads.
type outagePass struct {
	Files    int64 `json:"files"`
	Failures []struct {
		Path  string `json:"path"`
		Error string `json:"error"`
	} `json:"failures"`
}

// pass runs a mover pass. With a tier down it must move nothing from or
// to it and report it; afterwards every file is on one tier, which the
// model takes.
func (o *outageRun) pass() {
	o.stats.Passes++
	cmd := exec.Command(o.f.bin, "migrate", "--json", o.f.mnt)
	cmd.Env = childEnv()
	out, err := cmd.Output()
	var r outagePass
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		o.fatalf("tierfs migrate: %v %v\n%s", err, jerr, out)
	}
	o.stats.Moved += int(r.Files)
	if o.isDown(o.down) {
		o.stats.PassesWhileDown++
		if !slices.ContainsFunc(r.Failures, func(f struct {
			Path  string `json:"path"`
			Error string `json:"error"`
		}) bool {
			return strings.Contains(f.Error, o.down)
		}) {
			o.fatalf("tierfs migrate with tier %s down does not report it: %s", o.down, out)
		}
	}
	for rel, f := range o.files {
		got := o.holding(rel)
		if len(got) != 1 {
			o.fatalf("after a pass, %s is on tiers %v, want one (was %s)\n%s", rel, got, f.tier, out)
		}
		if got[0] != f.tier && o.lenient([]string{got[0], f.tier}) {
			o.fatalf("a pass moved %s from %s to %s while %s is down\n%s", rel, f.tier, got[0], o.down, out)
		}
		f.tier = got[0]
	}
}

// takeDown takes a random tier away in a random way and waits until the
// daemon reports it down.
func (o *outageRun) takeDown() {
	o.down = o.f.order[o.rng.IntN(len(o.f.order))]
	modes := outageModes
	if o.down == "tmp" {
		modes = modes[:2] // a tmpfs tier carries no marker
	}
	o.mode = modes[o.rng.IntN(len(modes))]
	o.stats.Outages++
	o.stats.ByMode[o.mode]++
	ot := o.tiers[o.down]
	switch o.mode {
	case outLazy:
		outageMount(o.t, "--bind", ot.mnt, ot.hold)
		o.command("umount", "-l", ot.mnt)
	case outEmpty:
		o.command("mv", ot.dir, ot.dir+".away")
		if err := os.Mkdir(ot.dir, 0o755); err != nil {
			o.fatalf("%v", err)
		}
	case outNoMarker, outOtherMarker:
		o.swapMarker(ot)
	}
	o.waitHealth(o.down, false)
	o.detected = true
}

// swapMarker removes tier ot's marker or puts another tier's in its place.
func (o *outageRun) swapMarker(ot *outageTier) {
	marker := filepath.Join(ot.dir, ".tierfs-tier")
	var err error
	if o.saved, err = os.ReadFile(marker); err != nil {
		o.fatalf("%v", err)
	}
	if o.mode == outNoMarker {
		err = os.Remove(marker)
	} else {
		other := map[string]string{"fast": "slow", "slow": "fast"}[o.down]
		var b []byte
		if b, err = os.ReadFile(filepath.Join(o.tiers[other].dir, ".tierfs-tier")); err == nil {
			err = os.WriteFile(marker, b, 0o644)
		}
	}
	if err != nil {
		o.fatalf("%v", err)
	}
}

// command runs a mount-table or file command the outage needs.
func (o *outageRun) command(name string, args ...string) {
	o.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		o.fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// restore brings the tier back with its contents and waits until the
// daemon reports it up.
func (o *outageRun) restore() {
	ot := o.tiers[o.down]
	o.checkUncovered()
	switch o.mode {
	case outLazy:
		outageMount(o.t, "--bind", ot.hold, ot.mnt)
		o.command("umount", ot.hold)
	case outEmpty:
		if err := os.Remove(ot.dir); err != nil {
			o.fatalf("remove the empty directory: %v", err)
		}
		o.command("mv", ot.dir+".away", ot.dir)
	default:
		if o.saved != nil {
			if err := os.WriteFile(filepath.Join(ot.dir, ".tierfs-tier"), o.saved, 0o644); err != nil {
				o.fatalf("%v", err)
			}
		}
	}
	o.waitHealth(o.down, true)
	o.down, o.mode, o.detected, o.saved = "", "", false, nil
	o.verifyAll("after the tier came back")
}

// waitHealth waits until the daemon logs that tier went down (or came
// back) once more than before.
func (o *outageRun) waitHealth(tier string, up bool) {
	o.t.Helper()
	msg := map[bool]string{false: `msg="tier is down; operations that need it fail with EIO" tier=`, true: `msg="tier is back" tier=`}[up] + tier
	msg += map[bool]string{false: " ", true: "\n"}[up]
	deadline := time.Now().Add(outageWait)
	for {
		n := strings.Count(o.f.d.log(), msg)
		if up && n == o.ups[tier]+1 {
			o.ups[tier] = n
			return
		}
		if !up && n == o.downs[tier]+1 {
			o.downs[tier] = n
			return
		}
		if time.Now().After(deadline) {
			o.fatalf("the daemon did not log %q within %v", msg, outageWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkUncovered fails if anything was written where a vanished tier's
// data used to be reachable: the mount point a lazy unmount uncovered,
// or the empty directory put in the tier's place.
func (o *outageRun) checkUncovered() {
	o.t.Helper()
	var dir string
	switch o.mode {
	case outLazy:
		dir = o.tiers[o.down].mnt
	case outEmpty:
		dir = o.tiers[o.down].dir
	default:
		return
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		o.fatalf("%s beneath vanished tier %s: %d entries (%v), want none", dir, o.down, len(ents), err)
	}
}

// verifyAll checks, with every tier up, that the mount shows exactly
// the model: every file once, on its tier, with its content and inode
// number, and every directory's listing.
func (o *outageRun) verifyAll(when string) {
	o.t.Helper()
	for rel, f := range o.files {
		got, err := os.ReadFile(o.f.path(rel))
		if err != nil || string(got) != string(f.content) {
			o.fatalf("%s: %s: %d bytes (%v), want the %d written", when, rel, len(got), err, len(f.content))
		}
		if held := o.f.tiersHolding(rel); !slices.Equal(held, []string{f.tier}) {
			o.fatalf("%s: %s on tiers %v, want [%s]", when, rel, held, f.tier)
		}
		var st unix.Stat_t
		if err := unix.Lstat(o.f.path(rel), &st); err != nil || st.Ino != f.ino {
			o.fatalf("%s: %s: st_ino %d (%v), want %d", when, rel, st.Ino, err, f.ino)
		}
	}
	for _, dir := range outageDirs {
		got, err := outageReadDir(o.f.path(dir))
		if want := o.namesIn(dir); err != nil || !slices.Equal(got, want) {
			o.fatalf("%s: list %s: %q (%v), want %q", when, dir, got, err, want)
		}
	}
}
