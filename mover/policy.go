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

// Aging is one rule's aging; where it demotes to is the rule's DemoteTo
// in the placement (per bucket for a list).
type Aging struct {
	After    time.Duration
	OnlySeen bool
	MinSize  int64
	Quiet    time.Duration
}

// PolicyFrom compiles the aging parts of cfg's rules. cfg is already
// validated (config.Parse), so tier names resolve.
func PolicyFrom(cfg *config.Config) (*Policy, error) {
	p := &Policy{Placement: cfg.Placement}
	for _, r := range cfg.Rules {
		a := Aging{After: r.DemoteAfter.Duration, OnlySeen: r.OnlySeen, MinSize: int64(r.MinSize), Quiet: r.Quiet.Duration}
		p.Aging = append(p.Aging, a)
	}
	if cfg.Placement == nil || len(cfg.Placement.Rules()) != len(p.Aging) {
		return nil, fmt.Errorf("%s: rules not compiled", cfg.Source)
	}
	p.Unnamed = make([]bool, len(cfg.Tiers))
	for i := range p.Unnamed {
		p.Unnamed[i] = true
	}
	for _, ti := range Targets(cfg) {
		p.Unnamed[ti] = false
	}
	return p, nil
}
