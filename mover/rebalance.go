package mover

import "fmt"

// RebalanceReport is what a pass found of an unfinished rebalance (a
// rule's tier list changed and its old members may still hold files of
// the buckets they gave up).
type RebalanceReport struct {
	Pending int `json:"pending"` // old lists the pass checked against
	// Left counts the names (files, and directories no other tier
	// holds) the pass left on an old member of their bucket; in a dry
	// run, those it found.
	Left int64 `json:"left"`
	// Finished: the pass proved none is left, and the record of the
	// old lists was cleared.
	Finished bool   `json:"finished,omitempty"`
	Why      string `json:"why,omitempty"` // why a pass that left none did not count
}

// settled counts a name moved off an old member (a no-op without a
// pending rebalance).
func (rb *RebalanceReport) settled(stale bool) {
	if rb != nil && stale {
		rb.Left--
	}
}

// staleCounter tells of renames and links of files a rebalance has not
// moved (*fs.Root implements it): such a change during a scan may carry
// a file past it unseen.
type staleCounter interface {
	StaleChanges() (done uint64, inflight int64)
}

// SetRebalanced sets what a pass calls when it proved the rebalance from
// the old lists with the given keys (policy.OldLists.Key) finished; the
// daemon clears them from its record. Call it before Run.
func (m *Mover) SetRebalanced(f func(keys []string) error) { m.rebalanced = f }

// staleChanges reads the primitive's count of such changes (0, 0 when it
// keeps none).
func (m *Mover) staleChanges() (uint64, int64) {
	if c, ok := m.cfg.Move.(staleCounter); ok {
		return c.StaleChanges()
	}
	return 0, 0
}

// moveStale counts the names of a moved candidate that were on an old
// member.
func (r *Report) moveStale(pol *Policy, c candidate) {
	if r.Rebalance == nil {
		return
	}
	names := c.links
	if len(names) == 0 {
		names = []string{c.path}
	}
	for _, p := range names {
		r.Rebalance.settled(pol.Placement.Stale(p)&(1<<c.src) != 0)
	}
}

// settleRebalance clears the pending old lists the pass checked against
// when it proves them finished: a complete pass (all users, the whole
// tree and not only the users held here, every tier scanned, nothing
// failed, not stopped early, not a dry run) that left no name on an old
// member, with no rename or link of such a name finished or in flight
// since the scan began (before is the count then). A file skipped for
// any reason (open, another host's user) still counts as left.
func (m *Mover) settleRebalance(pol *Policy, o Options, r *Report, before uint64) {
	rb := r.Rebalance
	if rb == nil || o.DryRun || rb.Left > 0 {
		return
	}
	done, inflight := m.staleChanges()
	switch {
	case o.User != "":
		rb.Why = "a --user pass sees one user's files only"
	case r.Scope.partial():
		rb.Why = "the pass scanned only the users held here"
	case r.Stopped != "":
		rb.Why = "the pass stopped early: " + r.Stopped
	case r.Failed > 0:
		rb.Why = "the pass failed to scan or move something"
	case done != before || inflight != 0:
		rb.Why = "names of the old members were renamed or linked during the pass"
	case m.rebalanced == nil:
		return
	}
	if rb.Why != "" {
		return
	}
	keys := make([]string, 0, len(pol.Placement.Pending()))
	for _, ol := range pol.Placement.Pending() {
		keys = append(keys, ol.Key)
	}
	if err := m.rebalanced(keys); err != nil {
		rb.Why = fmt.Sprintf("cannot clear the record: %v", err)
		return
	}
	rb.Finished = true
}
