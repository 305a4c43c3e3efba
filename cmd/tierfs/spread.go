package main

import (
	"fmt"
	"strings"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/policy"
)

// bucketOf says which bucket of a list put a file on its member, so
// that a file misplaced after the list changed names the reason for its
// new member: " (bucket 5a of [nfs1, nfs2])".
func bucketOf(names config.TierNames, caps policy.Captures) string {
	if !names.IsList() {
		return ""
	}
	return fmt.Sprintf(" (bucket %s of %s)", caps.Hash, names)
}

// members names, for each rule of cfg with a list, the member holding
// bucket hash: `rule[4] demote_to=nfs3`. "" without a config or lists.
func members(cfg *config.Config, hash string) string {
	if cfg == nil {
		return ""
	}
	c := policy.Captures{Hash: hash}
	var out []string
	for i, r := range cfg.Placement.Rules() {
		if len(r.Tiers) > 1 {
			out = append(out, fmt.Sprintf("rule[%d] tier=%s", i+1, cfg.Tiers[r.Home(c)].Name))
		}
		if len(r.DemoteTo) > 1 {
			out = append(out, fmt.Sprintf("rule[%d] demote_to=%s", i+1, cfg.Tiers[r.Demote(c)].Name))
		}
	}
	return strings.Join(out, " ")
}
