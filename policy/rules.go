package policy

import (
	"errors"
	"fmt"
)

// MaxTiers bounds the tier count, so that the filesystem can keep a
// directory's tiers in a bitmask and a tier index in the top byte of an
// inode number.
const MaxTiers = 32

// Rule places the paths its glob matches on one tier.
type Rule struct {
	Glob *Glob
	Tier int // index into the config's tier list
}

// Placement is an ordered rule list: the first matching rule decides the
// tier a new file is created on and which tier lookups ask first.
type Placement struct {
	rules  []Rule
	orders [][]int // orders[t]: t first, then the other tiers in config order
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
		if r.Tier < 0 || r.Tier >= ntiers {
			return nil, fmt.Errorf("rule %d (%q): tier %d out of range [0, %d)", i+1, r.Glob, r.Tier, ntiers)
		}
	}
	if last := rules[len(rules)-1]; !last.Glob.IsCatchAll() {
		return nil, fmt.Errorf(`last rule matches %q, want the catch-all "**"`, last.Glob)
	}
	p := &Placement{rules: append([]Rule(nil), rules...), orders: make([][]int, ntiers)}
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

// Tier returns the tier of the first rule matching path.
func (p *Placement) Tier(path string) int {
	i, _ := p.Match(path)
	return p.rules[i].Tier
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
