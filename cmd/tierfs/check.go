package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/dovecot"
	tfs "github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/mover"
	"github.com/tierfs/tierfs/tiers"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// checkArgs are the parsed arguments of "tierfs check".
type checkArgs struct {
	config     string
	stateDir   string
	repair     bool
	mountpoint string // "" when not given
}

func parseCheckArgs(args []string) (*checkArgs, error) {
	a := &checkArgs{}
	fset := newFlagSet("check")
	fset.StringVar(&a.config, "config", "", "config `file` (default: the one MOUNTPOINT is mounted with, else the embedded default)")
	fset.StringVar(&a.stateDir, "state-dir", defaultStateDir, "state `dir` of the embedded default")
	fset.BoolVar(&a.repair, "repair", false, "repair what can be repaired safely (needs the filesystem unmounted)")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return nil, err
	}
	switch len(pos) {
	case 0:
	case 1:
		if a.mountpoint, err = filepath.Abs(pos[0]); err != nil {
			return nil, err
		}
	default:
		return nil, usageError{"check: want at most one MOUNTPOINT"}
	}
	return a, nil
}

// runCheck reads the tiers' own directories and reports what a crash, a
// rename or a rule change left behind: names on two tiers, temporaries of
// interrupted moves, misplaced files, copies set aside by a conflict,
// unfinished journal intents, and Dovecot files on tmpfs that must
// survive a reboot. Without --repair it changes nothing but a finished
// rebalance's record (cleared on unmounted tiers only) and may run on a
// mounted filesystem; --repair needs it unmounted, since it would race
// the daemon's own moves, and first finishes the journal's intents as a
// mount would. It fails while problems remain.
func runCheck(ctx context.Context, args []string, stdout io.Writer) error {
	a, err := parseCheckArgs(args)
	if err != nil {
		return err
	}
	cfg, err := checkConfig(a)
	if err != nil {
		return err
	}
	if mp := servedAt(cfg, a.mountpoint); mp != "" && a.repair {
		return fmt.Errorf("check --repair: %s is mounted at %s; unmount it first (repairs would race the daemon's moves)", cfg.Source, mp)
	}
	pol, err := mover.PolicyFrom(cfg)
	if err != nil {
		return err
	}
	ts, err := openCheckTiers(cfg)
	if err != nil {
		return err
	}
	defer closeTiers(ts) // also the tmpfs tiers openAbsentTmpfs fills in
	c := &checker{cfg: cfg, pol: pol, tiers: ts, repair: a.repair, w: stdout, crash: os.Getenv("TIERFS_CRASHPOINT"),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if a.repair && hasIntents(ts) {
		c.intents = true
		c.absent = openAbsentTmpfs(cfg, ts)
	}
	if a.repair {
		if err := lockCheckTiers(ts); err != nil {
			return fmt.Errorf("check --repair: %w; unmount it first (repairs would race the daemon's moves)", err)
		}
	}
	c.run(ctx)
	return c.summary()
}

// checkConfig picks the config: --config, else the source of the mount
// at MOUNTPOINT (tierfs mounts name their config file as the source),
// else the embedded default.
func checkConfig(a *checkArgs) (*config.Config, error) {
	if a.config == "" && a.mountpoint != "" {
		for _, m := range tierfsMountEntries() {
			if m.point == a.mountpoint && filepath.IsAbs(m.source) {
				return config.Load(m.source)
			}
		}
	}
	return loadConfig(a.config, a.stateDir)
}

// mountEntry is a tierfs mount: its source (the config) and mount point.
type mountEntry struct{ source, point string }

func tierfsMountEntries() []mountEntry {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []mountEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == "fuse.tierfs" {
			out = append(out, mountEntry{source: mountinfo.Unescape(f[0]), point: mountinfo.Unescape(f[1])})
		}
	}
	return out
}

// servedAt returns where cfg is mounted ("" if nowhere): the given mount
// point if it is a tierfs mount, or any tierfs mount of the same config.
func servedAt(cfg *config.Config, mountpoint string) string {
	for _, m := range tierfsMountEntries() {
		if m.point == mountpoint || m.source == cfg.Source {
			return m.point
		}
	}
	return ""
}

// openCheckTiers opens every tier; a tmpfs tier that does not exist
// (after a reboot, before the first mount) is left out, not created.
func openCheckTiers(cfg *config.Config) ([]*tiers.Tier, error) {
	ts := make([]*tiers.Tier, len(cfg.Tiers))
	for i, t := range cfg.Tiers {
		if t.Kind == config.KindTmpfs {
			if _, err := os.Stat(t.Path); os.IsNotExist(err) {
				continue
			}
		}
		tier, err := tiers.Open(tierSpec(cfg, i), i)
		if err != nil {
			closeTiers(ts)
			return nil, fmt.Errorf("%s: %w", cfg.Source, err)
		}
		ts[i] = tier
	}
	return ts, nil
}

// openAbsentTmpfs opens the tmpfs tiers openCheckTiers left out,
// creating them as a mount does, when the journal holds intents for a
// repair to finish: the replay is the mount's code and needs every tier.
// An absent tmpfs tier holds nothing and the next mount creates it empty
// anyway, so creating it now loses nothing and changes nothing the mount
// would not. Without intents it stays absent, as in a plain check
// (the caller opens it only when there are some).
func openAbsentTmpfs(cfg *config.Config, ts []*tiers.Tier) error {
	for i, t := range ts {
		if t != nil {
			continue
		}
		if p := cfg.Tiers[i].Path; !underTmpfs(p) {
			// Created elsewhere it would be no tmpfs, and neither a
			// mount nor a check could open the tier any more.
			return fmt.Errorf("tmpfs tier %q: %s does not exist and would not be on tmpfs (is its tmpfs mounted?)", cfg.Tiers[i].Name, p)
		}
		tier, err := tiers.Open(tierSpec(cfg, i), i)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Source, err)
		}
		ts[i] = tier
	}
	return nil
}

// underTmpfs says whether the closest existing directory at or above p
// is on tmpfs, so that creating p gives a directory on tmpfs.
func underTmpfs(p string) bool {
	for {
		var sfs unix.Statfs_t
		err := unix.Statfs(p, &sfs)
		if err == nil {
			return sfs.Type == unix.TMPFS_MAGIC
		}
		if err != unix.ENOENT || p == filepath.Dir(p) {
			return false
		}
		p = filepath.Dir(p)
	}
}

// hasIntents says whether a journal on the open tiers holds an intent.
func hasIntents(ts []*tiers.Tier) bool {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if paths, err := tfs.PendingPaths(t, t.StateName(tfs.JournalDir)); len(paths) > 0 || err != nil {
			return true
		}
	}
	return false
}

// lockCheckTiers takes the lock of every open tier for a repair. A tier
// a daemon serves is refused even when the mount table does not tie it
// to this config (another fsname, another path to the config), and no
// daemon can start on the tiers while the repair runs. A shared tier is
// locked exclusively: no host of the cluster may serve it meanwhile.
func lockCheckTiers(ts []*tiers.Tier) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if err := t.LockExclusive(); err != nil {
			return err
		}
	}
	return nil
}

// checker walks the union of the tiers and reports problems.
type checker struct {
	cfg    *config.Config
	tiers  []*tiers.Tier // nil entries: absent tmpfs tiers
	repair bool
	w      io.Writer
	crash  string // TIERFS_CRASHPOINT: the step a repair kills itself at (tests)
	log    *slog.Logger

	// intents says the journal held intents when a repair started.
	intents bool
	// absent is why a repair could not open an absent tmpfs tier for
	// the journal's replay (nil: it could, or needed not).
	absent error
	// replayed says the repair replayed the journal: what is left in it
	// are the intents it reported it could not settle.
	replayed bool
	// pending are the paths that intents left in the journal name; the
	// replay that finishes them changes them, so a repair leaves them
	// alone.
	pending []string

	pol  *mover.Policy
	left map[int]*retireLeft // what those still hold (tallyUnnamed)

	rb         *checkRebalance // this host's pending rebalance
	unreadable bool            // the walk could not read a directory

	// linkedOnTmpfs are durable files found on tmpfs with several
	// names, which a repair decides on after the walk (offTmpfsLinked);
	// late says the walk is over.
	linkedOnTmpfs []nameOn
	late          bool

	problems, repaired int
}

// nameOn is a name on tier ti.
type nameOn struct {
	p  string
	ti int
}

// report prints one finding; fixed says whether a repair settled it.
func (c *checker) report(kind, what string, fixed bool, note string) {
	c.problems++
	line := kind + ": " + what
	switch {
	case fixed:
		c.repaired++
		line += " [repaired: " + note + "]"
	case note != "":
		line += " (" + note + ")"
	}
	fmt.Fprintln(c.w, line)
}

// run removes leftover temporaries (before the replay, as the mount
// does), finishes the journal's intents when repairing, then lists
// set-aside copies (the replay's too) and walks the union.
func (c *checker) run(ctx context.Context) {
	var all []int
	for ti, t := range c.tiers {
		if t != nil {
			all = append(all, ti)
			c.leftovers(t)
			c.keptLinks(t)
		}
	}
	if c.repair {
		c.finishIntents()
	}
	for _, ti := range all {
		c.listRecovered(c.tiers[ti], tiers.RecoveredDir)
		c.journal(c.tiers[ti])
	}
	c.openRebalance()
	c.walk(ctx, "", all)
	c.offTmpfsLinked()
	c.retireSummary()
	c.checkRetiredTiers()
	if ctx.Err() != nil {
		c.unreadable = true
	}
	c.settleRebalance()
}

// finishIntents settles the journal's intents with the mount's own code
// (fs.Recover) before the walk, so that the walk holds back only the
// names of an intent the replay could not settle.
func (c *checker) finishIntents() {
	if !c.intents {
		return
	}
	if c.absent != nil {
		c.report("journal", "the unfinished multi-tier changes cannot be finished", false, c.absent.Error())
		return
	}
	done, err := tfs.Recover(fsOptions(c.cfg, c.pol, c.tiers, c.log))
	for _, d := range done {
		c.reportReplayed(d)
	}
	if err != nil {
		c.report("journal", "the unfinished multi-tier changes cannot be finished", false, err.Error())
		return
	}
	c.replayed = true
	c.crashAt("check-after-replay")
}

// reportReplayed reports one intent the replay settled or left.
func (c *checker) reportReplayed(d tfs.Replayed) {
	what := d.Op + " " + d.From
	if d.To != "" {
		what += " -> " + d.To
	}
	if len(d.Paths) > 1 {
		what += " (names " + strings.Join(d.Paths, ", ") + ")"
	}
	what += " on " + strings.Join(d.Tiers, ", ")
	switch {
	case d.Err != nil:
		c.report("journal", what, false, fmt.Sprintf("cannot finish it: %v; the names it changes are left alone", d.Err))
	case len(d.SetAside) > 0:
		c.report("journal", what, true, "finished as the mount would; different copies, set aside "+strings.Join(d.SetAside, ", "))
	default:
		c.report("journal", what, true, "finished as the mount would")
	}
}

// summary prints the totals and fails while problems remain.
func (c *checker) summary() error {
	left := c.problems - c.repaired
	fmt.Fprintf(c.w, "%d problems found, %d repaired\n", c.problems, c.repaired)
	if left > 0 {
		return fmt.Errorf("check: %d problems remain", left)
	}
	return nil
}

// entry is one name of a directory as one tier has it.
type entry struct {
	tier int
	dir  bool
}

// walk merges directory dir across the tiers holding it and checks
// every name in it.
func (c *checker) walk(ctx context.Context, dir string, holders []int) {
	if ctx.Err() != nil {
		return
	}
	names := map[string][]entry{}
	for _, ti := range holders {
		ents, err := c.tiers[ti].ReadDir(dir)
		if err != nil {
			c.report("unreadable", fmt.Sprintf("%s:%s: %v", c.tiers[ti].Name, dir, err), false, "")
			c.unreadable = true
			continue
		}
		for _, e := range ents {
			if dir == "" && strings.HasPrefix(e.Name, ".tierfs") {
				continue
			}
			isDir := e.Type == unix.DT_DIR
			if e.Type == unix.DT_UNKNOWN {
				var st unix.Stat_t
				isDir = c.tiers[ti].Lstat(join(dir, e.Name), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
			}
			names[e.Name] = append(names[e.Name], entry{ti, isDir})
		}
	}
	for _, name := range sortedKeys(names) {
		p := join(dir, name)
		var dirs, files []int
		for _, e := range names[name] {
			if e.dir {
				dirs = append(dirs, e.tier)
			} else {
				files = append(files, e.tier)
			}
		}
		c.checkName(p, dirs, files)
		if len(dirs) > 0 {
			c.walk(ctx, p, dirs)
		}
	}
}

// checkName checks one path: a file on several tiers, a file and a
// directory of one name, a misplaced file, a durable file on tmpfs.
func (c *checker) checkName(p string, dirs, files []int) {
	if c.repair && c.pendingAt(p) {
		// A repair here could make the replay fail (a move off tmpfs
		// recreating a renamed directory) or undo it.
		c.repair = false
		defer func() { c.repair = true }()
	}
	c.tallyUnnamed(p, dirs, files)
	c.noteRebalance(p, dirs, files)
	switch {
	case len(files) > 0 && len(dirs) > 0:
		c.conflict(p, dirs, files)
		return
	case len(files) > 1:
		files = c.duplicate(p, files)
	}
	for _, ti := range files {
		c.placement(p, ti)
	}
}

// conflict reports a name that is a directory on some tiers and a file
// on others; the mount shows only one of them. --repair sets the files
// aside, so the directory, which may hold a whole mailbox, keeps the name
// and no byte is lost.
func (c *checker) conflict(p string, dirs, files []int) {
	what := fmt.Sprintf("%s is a directory on %s and a file on %s", p, c.names(dirs), c.names(files))
	if !c.repair {
		c.report("conflict", what, false, "--repair sets the file aside")
		return
	}
	var set []string
	for _, ti := range files {
		where, err := c.tiers[ti].SetAside(p)
		if err != nil {
			c.report("conflict", what, false, fmt.Sprintf("repair failed: %v", err))
			return
		}
		set = append(set, c.tiers[ti].Name+":"+where)
	}
	c.report("conflict", what, true, "set aside "+strings.Join(set, ", "))
}

// duplicate reports (and repairs) a name held by several tiers and
// returns the tiers still holding it. The copy the mount shows (the
// first holder in lookup order) is kept, unless it is on tmpfs and
// another is not: a reboot would take the only copy left. Identical
// others are removed, differing ones set aside under .tierfs-recovered
// (the newer stays).
func (c *checker) duplicate(p string, holders []int) []int {
	keep := -1
	for _, ti := range c.cfg.Placement.Order(p) {
		if !slices.Contains(holders, ti) {
			continue
		}
		if keep < 0 || !c.tiers[keep].Persistent() && c.tiers[ti].Persistent() {
			keep = ti
		}
	}
	if keep < 0 {
		keep = holders[0]
	}
	left := []int{keep}
	for _, ti := range holders {
		if ti == keep {
			continue
		}
		what := fmt.Sprintf("%s on %s and %s", p, c.tiers[keep].Name, c.tiers[ti].Name)
		if c.pendingAt(p) {
			// A hard-linked file's move, say: settling its names one
			// by one could split the file.
			c.report("duplicate", what, false, "an unfinished multi-tier change names it: the replay that finishes the change settles it")
			left = append(left, ti)
			continue
		}
		same, err := tiers.SameContent(c.tiers[keep], c.tiers[ti], p)
		switch {
		case err != nil:
			c.report("duplicate", what, false, fmt.Sprintf("cannot compare: %v", err))
			continue
		case !c.repair:
			note := "different content: the newer stays, the other is set aside by --repair"
			if same {
				note = "identical: --repair removes the copy on " + c.tiers[ti].Name
			}
			c.report("duplicate", what, false, note)
			continue // the mount shows the kept copy; only its placement matters
		}
		res, where, err := tiers.ResolveDuplicate(c.tiers[keep], c.tiers[ti], p)
		switch {
		case err != nil:
			c.report("duplicate", what, false, fmt.Sprintf("repair failed: %v", err))
			left = append(left, ti)
		case res == tiers.RemovedCopy:
			c.report("duplicate", what, true, "identical; removed the copy on "+c.tiers[ti].Name)
		case res == tiers.KeptBoth:
			c.report("duplicate", what, true, "different; set aside "+where)
			if strings.HasPrefix(where, c.tiers[keep].Name+":") {
				// The kept copy lost: the name is now ti's, and the
				// next holders are compared with ti's copy.
				keep, left[0] = ti, ti
			}
		default:
			c.report("duplicate", what, false, "not two regular files; resolve by hand")
			left = append(left, ti)
		}
	}
	return left
}

// placement reports a file on a tier its rule does not give it, and
// moves a Dovecot file that must survive a reboot off tmpfs.
func (c *checker) placement(p string, ti int) {
	t := c.tiers[ti]
	if !t.Persistent() && dovecot.MustSurvive(p) {
		c.offTmpfs(p, ti)
		return
	}
	ri, caps := c.cfg.Placement.Match(p)
	r := c.cfg.Rules[ri]
	home, demoted := c.cfg.Placement.Rule(ri).Home(caps), c.cfg.Placement.Rule(ri).Demote(caps)
	if !c.cfg.Tiers[home].Kind.Persistent() && dovecot.MustSurvive(p) {
		return // kept off the tmpfs tier its rule names, as the mover does
	}
	if ti != home && ti != demoted {
		where := c.cfg.Tiers[home].Name + bucketOf(r.Tier, caps)
		if demoted >= 0 {
			// The mover takes a file old enough straight to demote_to.
			where += ", or on " + c.cfg.Tiers[demoted].Name + bucketOf(r.DemoteTo, caps) + " once it ages"
		}
		c.report("misplaced", fmt.Sprintf("%s on %s, rule[%d] (%q) places it on %s", p, t.Name, ri+1, r.Match, where),
			false, "tierfs migrate moves it while mounted, keeping its inode number")
	}
}

// offTmpfs reports a durable file on tmpfs and, with --repair, moves it
// to the first persistent tier in its lookup order.
func (c *checker) offTmpfs(p string, ti int) {
	what := fmt.Sprintf("%s is on tmpfs tier %s but Dovecot needs it after a reboot", p, c.tiers[ti].Name)
	dst := -1
	for _, o := range c.cfg.Placement.Order(p) {
		if c.tiers[o] != nil && c.tiers[o].Persistent() {
			dst = o
			break
		}
	}
	switch {
	case dst < 0:
		c.report("not durable", what, false, "no persistent tier to move it to")
	case linkedNames(c.tiers[ti], p):
		if c.repair && !c.late {
			// A duplicate of another of its names, settled later in
			// the walk, may leave it one name: decide after the walk.
			c.linkedOnTmpfs = append(c.linkedOnTmpfs, nameOn{p, ti})
			return
		}
		c.report("not durable", what, false, "it has several names, which a repair would split: move it by hand, with all its names")
	case !c.repair:
		c.report("not durable", what, false, "--repair moves it to "+c.tiers[dst].Name+"; fix the rules too")
	default:
		if err := c.moveOffline(c.tiers[ti], c.tiers[dst], p); err != nil {
			c.report("not durable", what, false, fmt.Sprintf("repair failed: %v", err))
			return
		}
		c.report("not durable", what, true, "moved to "+c.tiers[dst].Name+"; fix the rules too")
	}
}

// offTmpfsLinked settles the durable files the walk found on tmpfs with
// several names. The walk may have removed their other names since (an
// identical duplicate on a persistent tier wins over its copy on
// tmpfs), and a file left with one name is moved now, or the next
// repair would find more to do.
func (c *checker) offTmpfsLinked() {
	c.late = true
	for _, f := range c.linkedOnTmpfs {
		var st unix.Stat_t
		if c.tiers[f.ti].Lstat(f.p, &st) != nil {
			continue // another repair of the walk took the name
		}
		c.offTmpfs(f.p, f.ti)
	}
}

// moveOffline moves file p between tiers of an unmounted filesystem:
// copy to a temporary, fsync, rename into place (never replacing),
// fsync the directory, then remove the source. A crash leaves a
// temporary (removed by the next repair or mount) or two identical
// copies (settled by the next repair).
func (c *checker) moveOffline(src, dst *tiers.Tier, p string) error {
	if err := mkdirsLike(src, dst, filepath.Dir(p)); err != nil {
		return err
	}
	// A tier not mounted since tierfs init has no directory for
	// temporaries yet.
	if err := dst.Mkdir(dst.MovingName(), 0o700, nil); err != nil && err != unix.EEXIST {
		return fmt.Errorf("create %s on %s: %w", dst.MovingName(), dst.Name, err)
	}
	tmp, _, err := tiers.CopyToTemp(src, dst, p, nil)
	if err != nil {
		return err
	}
	c.crashAt("check-move-after-copy")
	if err := dst.Rename(tmp.Path, p, unix.RENAME_NOREPLACE); err != nil {
		dst.Unlink(tmp.Path)
		return err
	}
	if err := dst.FsyncDir(filepath.Dir(p)); err != nil {
		return err
	}
	c.crashAt("check-move-after-rename")
	if err := src.Unlink(p); err != nil {
		return err
	}
	return src.FsyncDir(filepath.Dir(p))
}

// crashAt kills the process with SIGKILL at the named step of a repair
// when TIERFS_CRASHPOINT names it, so that tests can prove a repair
// interrupted there loses nothing.
func (c *checker) crashAt(point string) {
	if c.crash == point {
		fmt.Fprintf(c.w, "crash point %s reached; killing check\n", point)
		unix.Kill(os.Getpid(), unix.SIGKILL)
		select {}
	}
}

// mkdirsLike creates dir and its parents on dst with the modes and
// owners they have on src.
func mkdirsLike(src, dst *tiers.Tier, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	var st unix.Stat_t
	if dst.Lstat(dir, &st) == nil {
		return nil
	}
	if err := mkdirsLike(src, dst, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := src.Lstat(dir, &st); err != nil {
		return err
	}
	if err := dst.Mkdir(dir, st.Mode&07777, nil); err != nil && err != unix.EEXIST {
		return err
	}
	if err := dst.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return dst.Chmod(dir, st.Mode&07777)
}

// leftovers reports (and with --repair removes) the temporaries of
// interrupted moves on t, every host's on a shared tier. A repair
// removes other hosts' too: it holds the tier exclusively, so no host's
// daemon is copying, and a temporary is never the only copy of a file,
// since a move renames it out of the directory before it unlinks the
// source. That host's next mount would remove it just the same.
func (c *checker) leftovers(t *tiers.Tier) {
	hs, _ := t.HostStates(tiers.MovingDir)
	for _, h := range hs {
		ents, _ := t.ReadDir(h.Name)
		for _, e := range ents {
			c.leftover(t, h, e.Name)
		}
	}
}

// leftover reports (and with --repair removes) temporary name of host
// state h on t.
func (c *checker) leftover(t *tiers.Tier, h tiers.HostState, name string) {
	what := fmt.Sprintf("%s:%s/%s, the temporary of an interrupted move", t.Name, h.Name, name)
	note := "--repair or the next mount removes it"
	if !t.Own(h) {
		what += ", " + hostOf(h)
		note = "--repair with every host unmounted, or the next mount of that host, removes it"
	}
	if !c.repair {
		c.report("leftover", what, false, note)
		return
	}
	if err := t.RemoveTemp(h.Name, name); err != nil {
		c.report("leftover", what, false, fmt.Sprintf("repair failed: %v", err))
		return
	}
	c.report("leftover", what, true, "removed")
}

// hostOf names the owner of another daemon's state.
func hostOf(h tiers.HostState) string {
	if h.Host == "" {
		return "of a daemon outside the cluster"
	}
	return "of host " + h.Host
}

// journal holds back the names the intents left in t's journals change
// and reports the intents, unless the repair's replay already did.
// Other hosts' journals on a shared tier are only theirs to replay
// (their intents may name their own tmpfs tiers): reported, they keep a
// repair from passing.
func (c *checker) journal(t *tiers.Tier) {
	hs, err := t.HostStates(tfs.JournalDir)
	if err != nil {
		c.report("journal", fmt.Sprintf("%s: %v", t.Name, err), false, "")
	}
	for _, h := range hs {
		c.hostJournal(t, h)
	}
}

// hostJournal is journal for the journal h of one host.
func (c *checker) hostJournal(t *tiers.Tier, h tiers.HostState) {
	paths, err := tfs.PendingPaths(t, h.Name)
	if err != nil {
		c.report("journal", fmt.Sprintf("%s:%s: %v", t.Name, h.Name, err), false, "")
	}
	c.pending = append(c.pending, paths...)
	own := t.Own(h)
	note := "the next mount or tierfs check --repair finishes it"
	switch {
	case !own && t.Shared() && h.Host != "" && c.hostLiveness(h.Host) == hostDead:
		note = "host " + h.Host + " is dead: a live host finishes it (the next to take the lease of a user it changes, a mover pass, or, outside the users' directories, any mount within seconds); the names it changes are left alone"
	case !own && t.Shared() && h.Host != "":
		note = "host " + h.Host + "'s next mount or tierfs check --repair on host " + h.Host + " finishes it; the names it changes are left alone"
	case !own:
		note = "this mount refuses to start until it is finished: " + foreignHow(h.Host)
	case c.repair:
		note = "the next mount finishes it; --repair leaves the names it changes until then"
	}
	ents, _ := t.ReadDir(h.Name)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name, ".json") {
			continue
		}
		if c.isUnnamed(t.Index) {
			c.leftOn(t.Index).own++ // a tier to retire must not hold one
		}
		if !own || !c.replayed { // the replay reported those it left
			what := fmt.Sprintf("%s:%s/%s, an unfinished multi-tier change", t.Name, h.Name, e.Name)
			if !own {
				what += " " + hostOf(h)
			}
			c.report("journal", what, false, note)
		}
	}
}

// foreignHow tells how the intents of host (or, "", of a daemon outside
// the cluster) get finished.
func foreignHow(host string) string {
	if host == "" {
		return "mount the tiers once with shared = false and no [cluster]"
	}
	return "mount tierfs once as host " + host + ", or run tierfs check --repair there"
}

// pendingAt says whether an unfinished intent names p, a directory
// above it or a path below it.
func (c *checker) pendingAt(p string) bool {
	for _, q := range c.pending {
		if p == q || strings.HasPrefix(p, q+"/") || strings.HasPrefix(q, p+"/") {
			return true
		}
	}
	return false
}

// listRecovered reports every file set aside under dir; tierfs never
// deletes them, a person compares and removes them.
func (c *checker) listRecovered(t *tiers.Tier, dir string) {
	ents, err := t.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := dir + "/" + e.Name
		if e.Type == unix.DT_DIR {
			c.listRecovered(t, p)
			continue
		}
		orig := tiers.AsideOrigin(p)
		if c.isUnnamed(t.Index) {
			c.leftOn(t.Index).own++
		}
		c.report("set aside", fmt.Sprintf("%s:%s, a copy of %s that lost a conflict", t.Name, p, orig), false,
			"compare it with the file in the mount and delete it by hand")
	}
}

func (c *checker) names(tis []int) string {
	n := make([]string, len(tis))
	for i, ti := range tis {
		n[i] = c.tiers[ti].Name
	}
	return strings.Join(n, ", ")
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// linkedNames reports whether file p on tier t has several names.
func linkedNames(t *tiers.Tier, p string) bool {
	var st unix.Stat_t
	return t.Lstat(p, &st) == nil && st.Nlink > 1
}
