package fs

// downForeign reports whether tier ti is down and, by p's rule, holds
// other buckets than p's: a rule that spreads its buckets over several
// tiers puts none of p's there, so lookups and listings pass it by, and
// an outage of one member fails only the users of its own buckets.
// What it may still hold of p's bucket (files a rebalance has not moved
// yet) is hidden until it is back.
func (r *Root) downForeign(p string, ti int) bool {
	return !r.tiers[ti].Up() && r.placement().Foreign(p)&bit(ti) != 0
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
