package config

import (
	"fmt"
	"slices"

	"github.com/tierfs/tierfs/policy"
)

// ListRules returns the tiers of every rule whose match captures {hash}
// (only those can spread over a list), for the record that tells a
// changed list from the one a rebalance still moves files from.
func (c *Config) ListRules() []policy.ListRule {
	var out []policy.ListRule
	for _, r := range c.Rules {
		g, err := policy.CompileGlob(r.Match)
		if err != nil || !g.HasHash() {
			continue
		}
		out = append(out, policy.ListRule{Match: r.Match, Tier: slices.Clone([]string(r.Tier)),
			DemoteTo: slices.Clone([]string(r.DemoteTo))})
	}
	return out
}

// OldLists resolves pending entries to this config's tier indexes. A
// member the config no longer has stays in its place as -1 (no tier),
// so that the other members keep their buckets.
func (c *Config) OldLists(ps []policy.PendingRebalance) ([]policy.OldLists, error) {
	out := make([]policy.OldLists, 0, len(ps))
	for _, p := range ps {
		g, err := policy.CompileGlob(p.Match)
		if err != nil {
			return nil, fmt.Errorf("pending rebalance of %q: %w", p.Match, err)
		}
		out = append(out, policy.OldLists{Glob: g, Tiers: c.spreadOf(p.Tier), DemoteTo: c.spreadOf(p.DemoteTo), Key: p.Key()})
	}
	return out, nil
}

// spreadOf maps tier names to indexes, -1 for a name no tier has.
func (c *Config) spreadOf(names []string) policy.Spread {
	if len(names) == 0 {
		return nil
	}
	s := make(policy.Spread, len(names))
	for i, n := range names {
		s[i] = c.TierIndex(n)
	}
	return s
}
