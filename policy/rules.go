package policy

import (
	"errors"
	"fmt"
)

// MaxTiers bounds the tier count, so that the filesystem can keep a
// directory's tiers in a bitmask and a tier index in the top byte of an
// inode number.
const MaxTiers = 32

// Rule places the paths its glob matches on one tier, or spreads them by
// their {hash} bucket over several.
type Rule struct {
	Glob *Glob
	Tier int // index into the config's tier list; with Tiers, the first member
	// Tiers, when set, spreads the rule's paths by bucket: bucket b goes
	// to Tiers[Member(b, len(Tiers))]. The glob must capture {hash}.
	Tiers Spread
	// DemoteTo is where aged files go: nil (never), one tier, or a
	// spread like Tiers.
	DemoteTo Spread
}

// Home returns the tier the rule places a path with captures c on.
func (r *Rule) Home(c Captures) int {
	if len(r.Tiers) > 0 {
		return r.Tiers.For(c)
	}
	return r.Tier
}

// Demote returns the tier the rule demotes a path with captures c to,
// -1 if it never demotes.
func (r *Rule) Demote(c Captures) int { return r.DemoteTo.For(c) }

// Spreads reports whether the rule spreads its tier or demote_to over a
// list.
func (r *Rule) Spreads() bool { return len(r.Tiers) > 1 || len(r.DemoteTo) > 1 }

// members is the mask of the tiers of the rule's lists.
func (r *Rule) members() uint64 {
	var m uint64
	for _, s := range []Spread{r.Tiers, r.DemoteTo} {
		if len(s) > 1 {
			for _, ti := range s {
				m |= 1 << ti
			}
		}
	}
	return m
}

// Placement is an ordered rule list: the first matching rule decides the
// tier a new file is created on and which tier lookups ask first.
type Placement struct {
	rules   []Rule
	members []uint64 // by rule: the tiers its lists name
	listed  uint64   // the tiers any rule's list names
	orders  [][]int  // orders[t]: t first, then the other tiers in config order
	// pending are the old lists of an unfinished rebalance (PassBy).
	pending []OldLists
}

// NewPlacement checks rules against ntiers tiers and precomputes the lookup
// orders. The last rule must be the catch-all "**", so every path has a
// tier and Tier never has to fail.
func NewPlacement(rules []Rule, ntiers int) (*Placement, error) {
	if ntiers <= 0 {
		return nil, errors.New("no tiers")
	}
	if ntiers > MaxTiers {
		return nil, fmt.Errorf("%d tiers, more than the %d supported", ntiers, MaxTiers)
	}
	if len(rules) == 0 {
		return nil, errors.New(`no rules (the last rule must match "**")`)
	}
	for i, r := range rules {
		if r.Glob == nil {
			return nil, fmt.Errorf("rule %d: no glob", i+1)
		}
		if err := r.check(ntiers); err != nil {
			return nil, fmt.Errorf("rule %d (%q): %w", i+1, r.Glob, err)
		}
	}
	if last := rules[len(rules)-1]; !last.Glob.IsCatchAll() {
		return nil, fmt.Errorf(`last rule matches %q, want the catch-all "**"`, last.Glob)
	}
	p := &Placement{rules: append([]Rule(nil), rules...), orders: make([][]int, ntiers)}
	for i := range p.rules {
		p.members = append(p.members, p.rules[i].members())
		p.listed |= p.members[i]
	}
	for t := range ntiers {
		order := make([]int, 0, ntiers)
		order = append(order, t)
		for o := range ntiers {
			if o != t {
				order = append(order, o)
			}
		}
		p.orders[t] = order
	}
	return p, nil
}

// Match returns the index of the first rule matching path and its
// captures. The catch-all last rule guarantees a match.
func (p *Placement) Match(path string) (ruleIndex int, c Captures) {
	for i := range p.rules {
		if c, ok := p.rules[i].Glob.Match(path); ok {
			return i, c
		}
	}
	// Unreachable: NewPlacement requires a final "**".
	return len(p.rules) - 1, Captures{}
}

// Tier returns the tier of the first rule matching path: for a rule
// with a list, the member of path's bucket.
func (p *Placement) Tier(path string) int {
	i, c := p.Match(path)
	return p.rules[i].Home(c)
}

// Rule returns rule i (from Match); the caller must not modify it.
func (p *Placement) Rule(i int) *Rule { return &p.rules[i] }

// Foreign returns the mask of the tiers that hold nothing at or below
// path by the rules (PassBy adds what an unfinished rebalance left): members of a
// list for other buckets than path's (path may be a bucket's directory,
// such as "mail/5a" for "mail/{hash}/{user}/**"), named by no rule that
// may place path or a path below it otherwise. Lookups skip them while
// they are down, so that an outage of one member fails only its own
// buckets. It does not allocate.
func (p *Placement) Foreign(path string) uint64 {
	if p.listed == 0 {
		return 0
	}
	keep, members := p.holders(path)
	return members &^ keep
}

// holders returns the tiers the rules may place path or a path below it
// on (keep), and the members of the lists of the rules that spread path
// by its bucket (members). It does not allocate.
func (p *Placement) holders(path string) (keep, members uint64) {
	for i := range p.rules {
		r := &p.rules[i]
		hash, below := r.Glob.bucketPrefix(path)
		switch {
		case !below:
		case hash == "":
			keep |= r.tiers()
		default:
			c := Captures{Hash: hash}
			keep |= bitOf(r.Home(c)) | bitOf(r.Demote(c))
			members |= p.members[i]
		}
	}
	return keep, members
}

func bitOf(ti int) uint64 {
	if ti < 0 {
		return 0
	}
	return 1 << ti
}

// tiers is the mask of every tier the rule names.
func (r *Rule) tiers() uint64 {
	m := bitOf(r.Tier)
	for _, s := range []Spread{r.Tiers, r.DemoteTo} {
		for _, ti := range s {
			m |= bitOf(ti)
		}
	}
	return m
}

// Listed returns the mask of the tiers any rule's list names, and of
// those path's own rule's lists name.
func (p *Placement) Listed(path string) (all, own uint64) {
	if p.listed == 0 {
		return 0, 0
	}
	i, _ := p.Match(path)
	return p.listed, p.members[i]
}

// Order returns every tier index exactly once: Tier(path) first, then the
// others in config order. The slice is shared and must not be modified;
// Order runs on every lookup, so it does not allocate.
func (p *Placement) Order(path string) []int {
	return p.orders[p.Tier(path)]
}

// Rules returns a copy of the rules in order.
func (p *Placement) Rules() []Rule {
	return append([]Rule(nil), p.rules...)
}

// NumTiers returns the number of tiers the placement was built for.
func (p *Placement) NumTiers() int { return len(p.orders) }

// check checks the rule's tiers against ntiers tiers.
func (r *Rule) check(ntiers int) error {
	tiers := append(append([]int{r.Tier}, r.Tiers...), r.DemoteTo...)
	for _, ti := range tiers {
		if ti < 0 || ti >= ntiers {
			return fmt.Errorf("tier %d out of range [0, %d)", ti, ntiers)
		}
	}
	if r.Spreads() && !r.Glob.HasHash() {
		return errors.New("a list of tiers needs a {hash} capture to spread by")
	}
	return nil
}
