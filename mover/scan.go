package mover

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// candidate is a file the scan found on the wrong tier.
type candidate struct {
	path     string
	src, dst int
	size     int64
	user     userKey
	quiet    time.Duration
	skip     string   // a reason known at scan time
	links    []string // a hard-linked file: all its names, sorted (path is the first)
	mtime    time.Time
	space    int64 // bytes it takes: its size or its blocks, the larger (at least 1: an empty file frees an inode)
	back     bool  // a misplaced file going back to its rule's tier
	room     bool  // demoted early to make room on its tier (below target_free)
	ret      bool  // a spilled file going home; spill is its record
	spill    fs.SpilledFile
}

// userKey names a user's tree by the rule captures.
type userKey struct{ hash, user string }

// scan walks the tiers' own directories (never the mount) and collects
// the files to move and, when a rule has a quiet period, the newest
// change in each user's tree.
type scan struct {
	pol      *Policy
	tiers    []*tiers.Tier
	now      time.Time
	user     string   // only this user's files ("" for all)
	partial  bool     // walk only roots: the users held here (Scope)
	roots    []string // with partial, the directories to walk
	activity map[userKey]time.Time
	quiet    bool  // some rule has a quiet period: track activity
	targets  []int // tiers moves may go to (nil: all)
	cands    []candidate
	dirs     []dirCand              // directories only tiers no rule names hold (considerDir)
	linked   map[linkKey]*linkGroup // names of hard-linked files, grouped after the walk
	room     map[int]*roomHeap      // tiers below target_free: their oldest files to demote early
	roomTo   map[[2]int]bool        // (tier, demote tier) pairs that make room
	scanned  int64
	stale    int64 // names found on an old member of a pending rebalance
	errs     []error
	spills   spillScan
}

func newScan(pol *Policy, ts []*tiers.Tier, now time.Time, user string) *scan {
	s := &scan{pol: pol, tiers: ts, now: now, user: user, activity: map[userKey]time.Time{}, linked: map[linkKey]*linkGroup{}}
	for _, a := range pol.Aging {
		s.quiet = s.quiet || a.Quiet > 0
	}
	return s
}

// run walks every tier, then drops candidates held back by a quiet
// period.
func (s *scan) run(ctx context.Context) {
	for ti, t := range s.tiers {
		if !t.Up() {
			s.errs = append(s.errs, fmt.Errorf("tier %s is down; not scanned", t.Name))
			s.spills.partial(ti)
			continue
		}
		if !s.partial {
			s.walk(ctx, ti, "")
		}
		for _, d := range s.roots {
			s.walkRoot(ctx, ti, d)
		}
	}
	s.holdQuiet(s.cands)
	for _, g := range s.linked {
		s.holdQuiet(g.names)
	}
	for _, c := range s.groupLinked() {
		if c.room {
			s.room[c.src].add(c)
		} else {
			s.cands = append(s.cands, c)
		}
	}
	for _, h := range s.room {
		for i, c := range h.items {
			if len(c.links) == 0 { // a linked file's names were checked one by one
				h.items[i] = s.checked(file{path: c.path, tier: c.src}, c)
			}
		}
		s.holdQuiet(h.items)
	}
}

// roomCands returns the files to demote early, tier by tier, oldest
// first.
func (s *scan) roomCands() []candidate {
	var out []candidate
	for ti := range s.tiers {
		if h := s.room[ti]; h != nil {
			out = append(out, h.oldestFirst()...)
		}
	}
	return out
}

// holdQuiet skips the candidates whose user's tree changed within their
// rule's quiet period.
func (s *scan) holdQuiet(cands []candidate) {
	for i := range cands {
		c := &cands[i]
		if c.skip == "" && c.quiet > 0 && s.now.Sub(s.activity[c.user]) < c.quiet {
			c.skip = SkipQuiet
		}
	}
}

// walkRoot walks directory d of tier ti as walk does a directory it
// finds: a pass that scans only some users' directories starts there.
func (s *scan) walkRoot(ctx context.Context, ti int, d string) {
	st := s.lstat(ti, d)
	if st != nil && dtype(st.Mode) != unix.DT_DIR {
		return
	}
	if st != nil {
		if s.quiet {
			s.noteActivity(ti, d, st)
		}
		s.considerDir(ti, d)
	}
	s.walk(ctx, ti, d) // missing: nothing; unreadable: an error
}

func (s *scan) walk(ctx context.Context, ti int, dir string) {
	if ctx.Err() != nil {
		return
	}
	t := s.tiers[ti]
	ents, err := t.ReadDir(dir)
	if err != nil {
		if err != unix.ENOENT {
			s.errs = append(s.errs, fmt.Errorf("tier %s: read %q: %w", t.Name, dir, err))
			s.spills.partial(ti)
		}
		return
	}
	// Name order makes passes reproducible: a dry run and the real run
	// stop at the same file under --max-bytes.
	slices.SortFunc(ents, func(a, b tiers.Dirent) int { return strings.Compare(a.Name, b.Name) })
	for _, e := range ents {
		if dir == "" && strings.HasPrefix(e.Name, ".tierfs") {
			continue
		}
		p := e.Name
		if dir != "" {
			p = dir + "/" + e.Name
		}
		var st *unix.Stat_t
		typ := e.Type
		if typ == unix.DT_UNKNOWN {
			if st = s.lstat(ti, p); st == nil {
				continue
			}
			typ = dtype(st.Mode)
		}
		if s.quiet {
			st = s.noteActivity(ti, p, st)
		}
		if typ != unix.DT_DIR && s.pol.Placement.Stale(p)&(1<<ti) != 0 {
			s.stale++ // whatever it is: the mover moves regular files only
		}
		switch typ {
		case unix.DT_DIR:
			s.considerDir(ti, p)
			s.walk(ctx, ti, p)
		case unix.DT_REG:
			s.scanned++
			f := file{path: p, tier: ti, st: st, ino: e.Ino}
			f.spilled, f.st = s.spills.match(ti, t, p, e.Ino, f.st)
			s.consider(f)
		}
	}
}

// consider adds f to the candidates if the policy wants it elsewhere.
func (s *scan) consider(f file) {
	stat := func() (*unix.Stat_t, error) {
		if f.st == nil {
			if f.st = s.lstat(f.tier, f.path); f.st == nil {
				return nil, unix.ENOENT
			}
		}
		return f.st, nil
	}
	d := s.pol.decide(f, s.now, s.isTmpfs, stat)
	if d.settled {
		s.spills.settle(f.tier, s.spills.record(f.tier, f.ino))
	}
	if s.user != "" && d.caps.User != s.user {
		return
	}
	if d.dst < 0 {
		d = s.makeRoom(f, d, stat)
	}
	if d.dst < 0 {
		return
	}
	st, err := stat()
	if err != nil {
		return
	}
	c := candidate{path: f.path, src: f.tier, dst: d.dst, size: st.Size, skip: d.skip,
		user: userKey{d.caps.Hash, d.caps.User}, quiet: s.pol.Aging[d.rule].Quiet,
		mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), space: max(st.Size, st.Blocks*512, 1), back: !d.demote, room: d.room,
		ret: d.ret}
	if d.ret {
		c.spill = s.spills.record(f.tier, f.ino)
	}
	switch {
	case st.Nlink > 1:
		// Judged with the file's other names once the walk has found
		// them. With a user filter, names in other users' trees are not
		// looked at, so a file linked into them stays.
		s.addLinked(f, st, c)
	case c.room:
		s.room[f.tier].add(c) // checked once kept (checked costs a stat per tier)
	default:
		s.cands = append(s.cands, s.checked(f, c))
	}
}

// makeRoom sends a file that stays by its rule to the rule's demote tier
// when its tier is below target_free: such files are demoted early,
// regardless of demote_after and only_seen, but not below min_size.
func (s *scan) makeRoom(f file, d decision, stat func() (*unix.Stat_t, error)) decision {
	a := s.pol.Aging[d.rule]
	if s.room[f.tier] == nil || d.to < 0 || !s.roomTo[[2]int{f.tier, d.to}] {
		return d
	}
	if st, err := stat(); err != nil || st.Size < a.MinSize {
		return d
	}
	d.dst, d.demote, d.room = d.to, true, true
	return d
}

// checked sets the skip reasons that depend on the tiers' state.
func (s *scan) checked(f file, c candidate) candidate {
	switch {
	case c.skip != "":
	case s.targets != nil && !slices.Contains(s.targets, c.dst):
		c.skip = SkipNotTarget
	case s.elsewhere(f):
		c.skip = SkipDuplicate
	}
	return c
}

// elsewhere reports whether another tier also holds f's name.
func (s *scan) elsewhere(f file) bool {
	var st unix.Stat_t
	for ti, t := range s.tiers {
		if ti != f.tier && t.Lstat(f.path, &st) == nil {
			return true
		}
	}
	return false
}

// noteActivity records the change times of p in its user's tree.
func (s *scan) noteActivity(ti int, p string, st *unix.Stat_t) *unix.Stat_t {
	_, caps := s.pol.Placement.Match(p)
	if caps.User == "" {
		return st
	}
	if st == nil {
		if st = s.lstat(ti, p); st == nil {
			return nil
		}
	}
	k := userKey{caps.Hash, caps.User}
	for _, ts := range []unix.Timespec{st.Mtim, st.Ctim} {
		if t := time.Unix(ts.Sec, ts.Nsec); t.After(s.activity[k]) {
			s.activity[k] = t
		}
	}
	return st
}

func (s *scan) lstat(ti int, p string) *unix.Stat_t {
	var st unix.Stat_t
	if err := s.tiers[ti].Lstat(p, &st); err != nil {
		return nil
	}
	return &st
}

func (s *scan) isTmpfs(ti int) bool { return !s.tiers[ti].Persistent() }

func dtype(mode uint32) uint8 {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFREG:
		return unix.DT_REG
	}
	return unix.DT_UNKNOWN
}
