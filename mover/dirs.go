package mover

import (
	"slices"

	"golang.org/x/sys/unix"
)

// dirCand is a directory that only tiers no rule names hold, or only
// old members of its bucket under a pending rebalance: a pass copies it
// to its rule's tier, so that retiring those tiers, or an outage of the
// old member once the rebalance is finished, does not take it away (the
// mover moves files; an empty directory has none to bring it along).
type dirCand struct {
	path     string
	src, dst int
	skip     string
	stale    bool // it is on an old member of a pending rebalance
}

// considerDir notes directory p of tier ti when ti is named by no rule,
// or is an old member of p's bucket under a pending rebalance, and no
// other tier a rule names for p holds p.
func (s *scan) considerDir(ti int, p string) {
	stale := s.pol.Placement.Stale(p)
	if !s.pol.unnamed(ti) && stale&(1<<ti) == 0 || s.tiers[ti].EmptyLostFound(p) {
		return
	}
	ri, caps := s.pol.Placement.Match(p)
	if s.user != "" && caps.User != s.user {
		return
	}
	var st unix.Stat_t
	for tj, t := range s.tiers {
		if tj == ti || s.pol.unnamed(tj) || stale&(1<<tj) != 0 {
			continue
		}
		if !t.Up() {
			return // it may hold p: ask again next pass
		}
		if t.Lstat(p, &st) == nil {
			return // a directory or not, that tier's entry is what shows
		}
	}
	c := dirCand{path: p, src: ti, dst: s.pol.Placement.Rule(ri).Home(caps), stale: stale&(1<<ti) != 0}
	if s.targets != nil && !slices.Contains(s.targets, c.dst) {
		c.skip = SkipNotTarget
	}
	if c.stale {
		s.stale++
	}
	s.dirs = append(s.dirs, c)
}

// unnamed reports whether no rule places files on tier ti or demotes
// to it.
func (p *Policy) unnamed(ti int) bool { return ti < len(p.Unnamed) && p.Unnamed[ti] }

// copyDirs copies the scan's directories (counting them in a dry run),
// parents first: the scan found them in that order.
func (m *Mover) copyDirs(dirs []dirCand, o Options, r *Report) {
	for _, c := range dirs {
		if c.skip != "" {
			r.Skipped[c.skip]++
			continue
		}
		if !o.DryRun {
			if err := m.cfg.Move.CopyDir(c.path, c.dst); err != nil {
				if isMissing(err) {
					r.Skipped[SkipGone]++
					continue
				}
				r.fail(c.path, err)
				m.cfg.Logger.Warn("mover: directory copy failed", "path", c.path, "from", m.cfg.Tiers[c.src].Name, "to", m.cfg.Tiers[c.dst].Name, "err", err)
				continue
			}
			r.Rebalance.settled(c.stale)
		}
		r.Dirs++
	}
}
