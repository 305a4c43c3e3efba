package mover

import (
	"fmt"
	"time"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/policy"
)

// Policy is what the mover needs from a config: the placement rules and,
// per rule, its aging. It is replaced as a whole when the config is
// reloaded.
type Policy struct {
	Placement *policy.Placement
	Aging     []Aging // one per rule, in rule order
	// Unnamed marks, by tier, the tiers no rule places files on or
	// demotes to: tiers being retired, whose directories the mover
	// copies to their rule's tier when no named tier holds them.
	Unnamed []bool
}

// Aging is one rule's aging, with tiers resolved to indexes.
type Aging struct {
	After    time.Duration
	To       int // -1: the rule never demotes
	OnlySeen bool
	MinSize  int64
	Quiet    time.Duration
}

// PolicyFrom compiles the aging parts of cfg's rules. cfg is already
// validated (config.Parse), so tier names resolve.
func PolicyFrom(cfg *config.Config) (*Policy, error) {
	p := &Policy{Placement: cfg.Placement}
	for i, r := range cfg.Rules {
		a := Aging{To: -1, After: r.DemoteAfter.Duration, OnlySeen: r.OnlySeen, MinSize: int64(r.MinSize), Quiet: r.Quiet.Duration}
		if r.Demotes() {
			if a.To = cfg.TierIndex(r.DemoteTo); a.To < 0 {
				return nil, fmt.Errorf("%s: rule[%d].demote_to: %q is not a tier", cfg.Source, i+1, r.DemoteTo)
			}
		}
		p.Aging = append(p.Aging, a)
	}
	if cfg.Placement == nil || len(cfg.Placement.Rules()) != len(p.Aging) {
		return nil, fmt.Errorf("%s: rules not compiled", cfg.Source)
	}
	p.Unnamed = make([]bool, len(cfg.Tiers))
	for i := range p.Unnamed {
		p.Unnamed[i] = true
	}
	for ri, r := range cfg.Placement.Rules() {
		p.Unnamed[r.Tier] = false
		if to := p.Aging[ri].To; to >= 0 {
			p.Unnamed[to] = false
		}
	}
	return p, nil
}

// DemoteTo lists each rule's demote_to tier (-1: none), in rule order:
// where the filesystem places a new file first when the rule's tier is
// short.
func (p *Policy) DemoteTo() []int {
	out := make([]int, len(p.Aging))
	for i, a := range p.Aging {
		out[i] = a.To
	}
	return out
}
