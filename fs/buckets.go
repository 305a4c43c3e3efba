package fs

import "sync/atomic"

// downForeign reports whether tier ti is down and, by p's rule, holds
// other buckets than p's: a rule that spreads its buckets over several
// tiers puts none of p's there, so lookups and listings pass it by, and
// an outage of one member fails only the users of its own buckets. A
// member that held p's bucket under a list whose rebalance is pending
// may still hold its files, so it is not passed by (PassBy).
func (r *Root) downForeign(p string, ti int) bool {
	return !r.tiers[ti].Up() && r.placement().PassBy(p)&bit(ti) != 0
}

// assumeCopy reports whether directory p counts as having a copy on
// tier ti, down, without asking it: ti is a member of a list, and p is
// not under that list's rule (it is above the buckets, like "mail"). So
// p stays usable for the buckets of the other members, while its
// listing, and any name beneath it not in another member's bucket,
// fails with EIO as the copy on a down tier makes them.
func (r *Root) assumeCopy(p string, ti int) bool {
	listed, own := r.placement().Listed(p)
	return listed&bit(ti) != 0 && own&bit(ti) == 0 && !r.tiers[ti].Up()
}

// staleOps counts renames and links of names a pending rebalance has not
// moved yet (on an old member of their bucket): such a change can carry
// a file across a mover scan's position, so a pass that saw one, or
// ended with one in flight, cannot tell that it found every such file.
type staleOps struct {
	inflight atomic.Int64
	done     atomic.Uint64
}

// staleBegin reports whether a rename or link from path from to path to
// of a name on the tiers of mask touches a file a pending rebalance has
// not moved; if so it is counted in flight until staleEnd. Without a
// pending rebalance it costs a length check.
func (r *Root) staleBegin(from, to string, mask uint64) bool {
	pl := r.placement()
	if (pl.Stale(from)|pl.Stale(to))&mask == 0 {
		return false
	}
	r.stale.inflight.Add(1)
	return true
}

// staleEnd ends a change staleBegin counted.
func (r *Root) staleEnd() {
	r.stale.done.Add(1)
	r.stale.inflight.Add(-1)
}

// StaleChanges returns how many renames and links of files a pending
// rebalance has not moved have finished, and how many are in flight.
// The mover reads it before and after a pass. In flight is read first
// and staleEnd counts done first, so a change that ends between the two
// reads shows in one of them.
func (r *Root) StaleChanges() (done uint64, inflight int64) {
	inflight = r.stale.inflight.Load()
	return r.stale.done.Load(), inflight
}
