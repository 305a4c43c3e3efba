package main

import (
	"fmt"
	"slices"
)

// retireLeft is what a tier no rule names still holds that the other
// tiers lack: files, directories, and set-aside copies or journal
// intents at its root.
type retireLeft struct{ files, dirs, own int }

// isUnnamed says whether no rule names tier ti (it is being retired).
func (c *checker) isUnnamed(ti int) bool { return ti < len(c.pol.Unnamed) && c.pol.Unnamed[ti] }

func (c *checker) leftOn(ti int) *retireLeft {
	if c.left == nil {
		c.left = map[int]*retireLeft{}
	}
	if c.left[ti] == nil {
		c.left[ti] = &retireLeft{}
	}
	return c.left[ti]
}

// tallyUnnamed counts p's files on unnamed tiers (each also reported as
// misplaced) and reports a directory only unnamed tiers hold.
func (c *checker) tallyUnnamed(p string, dirs, files []int) {
	for _, ti := range files {
		if c.isUnnamed(ti) {
			c.leftOn(ti).files++
		}
	}
	if len(dirs) == 0 || slices.ContainsFunc(dirs, func(ti int) bool { return !c.isUnnamed(ti) || c.tiers[ti].EmptyLostFound(p) }) {
		return
	}
	for _, ti := range dirs {
		c.leftOn(ti).dirs++
	}
	ri, caps := c.cfg.Placement.Match(p)
	c.report("retiring", fmt.Sprintf("directory %s is only on %s, which no rule names", p, c.names(dirs)), false,
		"tierfs migrate copies it to "+c.cfg.Tiers[c.cfg.Placement.Rule(ri).Home(caps)].Name)
}

// retireSummary says, for each tier no rule names, whether it can be
// removed from the config: the operator's signal that a drain is done.
func (c *checker) retireSummary() {
	for ti, t := range c.tiers {
		if t == nil || !c.isUnnamed(ti) {
			continue
		}
		l := c.leftOn(ti)
		if *l == (retireLeft{}) {
			fmt.Fprintf(c.w, "tier %s: no rule names it and it holds nothing the other tiers lack: it can be removed from the config\n", t.Name)
			continue
		}
		fmt.Fprintf(c.w, "tier %s: no rule names it, and it still holds %d files, %d directories the other tiers lack, %d set-aside copies or journal intents\n",
			t.Name, l.files, l.dirs, l.own)
	}
}

// checkRetiredTiers reports the tiers removed from the config that
// still hold what the mount would hide (the mount refuses them).
func (c *checker) checkRetiredTiers() {
	for _, err := range retiredProblems(c.tiers) {
		c.report("retired", err.Error(), false, "")
	}
}
