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
	return p, nil
}
