package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tierfs/tierfs/policy"
)

// checkRebalance is what tierfs check knows of this host's unfinished
// rebalance: the record as the next mount would write it, the rules
// knowing its old lists, and the names its walk found on old members.
type checkRebalance struct {
	rb     *rebalanceRecord
	place  *policy.Placement
	locked bool   // check holds every tier: no daemon changes them under the walk
	why    string // why it cannot clear the record ("" if it may)
	left   int64  // names on an old member of their bucket
}

// openRebalance reads the record for the walk. With a rebalance pending
// and no --repair (which locks anyway), a check takes the tiers' locks
// when it can, so that no mount renames a file across its walk; while a
// daemon serves them it reports and leaves the clearing to the mover.
func (c *checker) openRebalance() {
	b := &rebalanceRecord{crash: os.Getenv("TIERFS_CRASHPOINT")}
	for _, t := range c.tiers {
		if t != nil && t.Persistent() {
			b.ts = append(b.ts, t)
		}
	}
	cr := &checkRebalance{rb: b, place: c.cfg.Placement, locked: c.repair}
	c.rb = cr
	recs, err := readRebalance(b.ts)
	if err != nil {
		cr.why = err.Error()
		c.report("rebalance", "the record cannot be read", false, err.Error())
		return
	}
	b.rec = policy.MergeRebalance(recs, c.cfg.ListRules(), time.Now())
	if len(b.rec.Pending) == 0 {
		return
	}
	old, err := c.cfg.OldLists(b.rec.Pending)
	if err != nil {
		cr.why = err.Error()
		return
	}
	cr.place = c.cfg.Placement.WithPending(old)
	if !cr.locked {
		cr.locked = lockCheckTiers(c.tiers) == nil
	}
}

// noteRebalance counts the names of p on old members: files on one, and a
// directory only old members hold (the mount would not show it while
// they are down, once the record is gone).
func (c *checker) noteRebalance(p string, dirs, files []int) {
	stale := c.rb.place.Stale(p)
	if stale == 0 {
		return
	}
	for _, ti := range files {
		if stale&(1<<ti) != 0 {
			c.rb.left++ // reported as misplaced
		}
	}
	if len(dirs) > 0 && !slices.ContainsFunc(dirs, func(ti int) bool { return stale&(1<<ti) == 0 }) {
		c.rb.left++
		c.report("rebalance", fmt.Sprintf("directory %s is only on %s, an old member of its bucket", p, c.names(dirs)), false,
			"the mover copies it to its rule's tier")
	}
}

// settleRebalance reports the pending old lists and clears them from
// the record when the walk found nothing left on the old members, every
// directory was read and no daemon could change the tiers meanwhile.
func (c *checker) settleRebalance() {
	cr := c.rb
	ps := cr.rb.rec.Pending
	if len(ps) == 0 {
		return
	}
	for _, p := range ps {
		fmt.Fprintf(c.w, "rebalance pending: %s\n", pendingLine(p))
	}
	switch {
	case cr.left > 0:
		fmt.Fprintf(c.w, "rebalance: %d names are still on old members of their buckets\n", cr.left)
		return
	case cr.why != "":
	case c.unreadable:
		cr.why = "a directory could not be read"
	case !cr.locked:
		cr.why = "the tiers are mounted (the daemon's next complete mover pass clears it)"
	}
	if cr.why != "" {
		fmt.Fprintf(c.w, "rebalance: nothing left on the old members, but the record stays: %s\n", cr.why)
		return
	}
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key()
	}
	if err := cr.rb.write(cr.rb.rec.WithoutPending(keys), stepClear); err != nil {
		c.report("rebalance", "the finished rebalance cannot be cleared from the record", false, err.Error())
		return
	}
	fmt.Fprintln(c.w, "rebalance: finished, nothing left on the old members; record cleared")
}
