package fs

import (
	"context"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// placing is the rule set in force: the placement (each rule's tier and
// demote_to tier, per bucket for a list) and what follows from it,
// swapped together on reload.
type placing struct {
	p *policy.Placement
	// retiring are the tiers no rule names: an overflow goes there only
	// when no other tier qualifies, so that a tier being drained is not
	// filled again.
	retiring uint64
}

func newPlacing(p *policy.Placement) *placing {
	var named uint64
	for _, r := range p.Rules() {
		named |= bit(r.Tier) // a list's first member
		for _, ti := range append(slices.Clip(r.Tiers), r.DemoteTo...) {
			named |= bit(ti)
		}
	}
	pl := &placing{p: p}
	for ti := range p.NumTiers() {
		if named&bit(ti) == 0 {
			pl.retiring |= bit(ti)
		}
	}
	return pl
}

// rule returns the tier of new child p by its rule, its demote_to tier
// (-1: none) and the members of the rule's lists that hold other
// buckets, which an overflow must not fill.
func (pl *placing) rule(p string) (home, demote int, foreign uint64) {
	ri, c := pl.p.Match(p)
	r := pl.p.Rule(ri)
	return r.Home(c), r.Demote(c), pl.p.Foreign(p)
}

// spaceTier is what the overflow choice reads of a tier.
type spaceTier interface {
	Persistent() bool
	Short() bool
	Attached() error
}

// overflowTier picks the tier for a new file whose rule's tier home
// cannot take it: demote, else the first tier of order, that is
// persistent (a file placed here may be mail), attached and not short;
// never home, skip or a tier of foreign (another bucket's member: its
// outage must not take this file with it), and a tier of retiring only
// when no other qualifies. -1 if none qualifies.
func overflowTier[T spaceTier](ts []T, order []int, home, demote, skip int, foreign, retiring uint64) int {
	ok := func(ti int) bool {
		t := ts[ti]
		return ti != home && ti != skip && foreign&bit(ti) == 0 && t.Persistent() && !t.Short() && t.Attached() == nil
	}
	if demote >= 0 && ok(demote) {
		return demote
	}
	for _, last := range []bool{false, true} {
		for _, ti := range order {
			if (retiring&bit(ti) != 0) == last && ok(ti) {
				return ti
			}
		}
	}
	return -1
}

// placeNew picks the tier for new child p: its rule's tier, unless the
// health probe's last sample found that short (one atomic load), then an
// overflow tier if one qualifies. home is the rule's tier, demote its
// demote_to tier (-1: none).
func (r *Root) placeNew(p string) (ti, home, demote int) {
	pl := r.place.Load()
	home, demote, foreign := pl.rule(p)
	if !r.tiers[home].Short() {
		return home, home, demote
	}
	if o := overflowTier(r.tiers, pl.p.Order(p), home, demote, -1, foreign, pl.retiring); o >= 0 {
		return o, home, demote
	}
	return home, home, demote // which answers ENOSPC honestly
}

// retryTier is where a create that failed for want of space on tier
// failed tries once more (-1: nowhere): it resamples failed, so that the
// next creates see it short at once, and picks an overflow tier other
// than it, else the rule's tier if that is not the one that failed (it
// was short, but may still have room).
func (r *Root) retryTier(p string, failed int) int {
	if _, err := r.tiers[failed].SampleSpace(); err != nil {
		r.log.Warn("statfs after ENOSPC failed", "tier", r.tiers[failed].Name, "err", err)
	}
	r.noteSpace(failed)
	pl := r.place.Load()
	home, demote, foreign := pl.rule(p)
	if o := overflowTier(r.tiers, pl.p.Order(p), home, demote, failed, foreign, pl.retiring); o >= 0 || home == failed {
		return o
	}
	return home
}

// noSpace reports whether a create failed for want of space or quota.
func noSpace(e syscall.Errno) bool { return e == syscall.ENOSPC || e == syscall.EDQUOT }

// spaceState is what the root keeps about space: which tiers it last
// logged as short, and counts of creates placed elsewhere.
type spaceState struct {
	short    []atomic.Bool   // by tier
	overflow []atomic.Uint64 // by from*len(tiers)+to
	retries  atomic.Uint64   // creates retried after ENOSPC or EDQUOT
}

func newSpaceState(n int) spaceState {
	return spaceState{short: make([]atomic.Bool, n), overflow: make([]atomic.Uint64, n*n)}
}

// countPlaced counts a file created on tier ti whose rule places it on
// home, when the two differ.
func (r *Root) countPlaced(home, ti int) {
	if home != ti {
		r.space.overflow[home*len(r.tiers)+ti].Add(1)
	}
}

// noteSpace logs tier ti becoming short or having room again, once per
// change.
func (r *Root) noteSpace(ti int) {
	t := r.tiers[ti]
	short := t.Short()
	if r.space.short[ti].Swap(short) == short {
		return
	}
	s := t.Space()
	lo, _ := t.Reserves()
	attrs := []any{"tier", t.Name, "free", s.Avail, "min_free", lo.Of(s.Capacity), "free_files", s.FreeFiles}
	if short {
		r.log.Warn("tier is short of space; new files go to an overflow tier", attrs...)
		return
	}
	r.log.Info("tier has space again; new files go to it again", attrs...)
}

// watchSpace notes each tier's shortness after the health probe's
// rounds, until ctx ends.
func (r *Root) watchSpace(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for ti := range r.tiers {
			r.noteSpace(ti)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// spaceStatus is tier t's last sample as status shows it.
func spaceStatus(t *tiers.Tier) *SpaceStatus {
	s := t.Space()
	if !s.Sampled {
		return nil
	}
	lo, hi := t.Reserves()
	return &SpaceStatus{
		Capacity: s.Capacity, Free: s.Avail, Files: s.Files, FreeFiles: s.FreeFiles,
		MinFree: lo.Of(s.Capacity), TargetFree: hi.Of(s.Capacity),
		Short: t.Short(), BelowTarget: t.BelowTarget(),
	}
}

// overflowStatus lists the creates placed off their rule's tier.
func (r *Root) overflowStatus() []Overflow {
	var out []Overflow
	n := len(r.tiers)
	for i := range r.space.overflow {
		if c := r.space.overflow[i].Load(); c > 0 {
			out = append(out, Overflow{From: r.tiers[i/n].Name, To: r.tiers[i%n].Name, Creates: c})
		}
	}
	return out
}
