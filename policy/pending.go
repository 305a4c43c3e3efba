package policy

// OldLists is how a rule spread its buckets before its lists changed:
// until the rebalance from it is finished, its members may still hold
// files of the buckets they held then.
type OldLists struct {
	Glob     *Glob
	Tiers    Spread // the old tier list (one tier counts as a list of one)
	DemoteTo Spread // the old demote_to list; nil: none
	// Key names the record entry this comes from, so that a finished
	// rebalance clears exactly the entries it was checked against.
	Key string
}

// holds returns the mask of the tiers that held path's bucket under the
// old lists, for path or a path below it: every old member when path is
// above the bucket, none when the glob cannot match path or below it.
func (o *OldLists) holds(path string) uint64 {
	hash, below := o.Glob.bucketPrefix(path)
	switch {
	case !below:
		return 0
	case hash == "":
		return spreadMask(o.Tiers) | spreadMask(o.DemoteTo)
	}
	c := Captures{Hash: hash}
	return bitOf(o.Tiers.For(c)) | bitOf(o.DemoteTo.For(c))
}

func spreadMask(s Spread) uint64 {
	var m uint64
	for _, ti := range s {
		m |= bitOf(ti)
	}
	return m
}

// WithPending returns a copy of p that knows the old lists of an
// unfinished rebalance (nil or empty: none).
func (p *Placement) WithPending(old []OldLists) *Placement {
	q := *p
	q.pending = append([]OldLists(nil), old...)
	return &q
}

// Pending returns the old lists of an unfinished rebalance; the caller
// must not modify them.
func (p *Placement) Pending() []OldLists { return p.pending }

// PassBy returns the mask of the tiers a lookup of path may pass by
// while they are down: those Foreign names, except the old members of
// path's bucket under a pending rebalance, which may still hold its
// files (an outage of one must fail with EIO, not hide them). It does
// not allocate.
func (p *Placement) PassBy(path string) uint64 {
	f := p.Foreign(path)
	if f == 0 {
		return 0
	}
	for i := range p.pending {
		f &^= p.pending[i].holds(path)
	}
	return f
}

// Stale returns the mask of the tiers that a pending rebalance may still
// have path's files on, although the rules no longer put path or
// anything below it there: old members of path's bucket that no rule
// may place path on now. A file there has not been moved yet. 0 without
// a pending rebalance; it does not allocate.
func (p *Placement) Stale(path string) uint64 {
	if len(p.pending) == 0 {
		return 0
	}
	var old uint64
	for i := range p.pending {
		old |= p.pending[i].holds(path)
	}
	if old == 0 {
		return 0
	}
	keep, _ := p.holders(path)
	return old &^ keep
}
