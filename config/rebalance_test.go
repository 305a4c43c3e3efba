package config

import (
	"slices"
	"testing"
	"time"

	"github.com/tierfs/tierfs/policy"
)

// TestListRules: every rule whose match captures {hash} is recorded by
// name, one tier as a list of one; others are not; OldLists maps the
// names back, a tier the config lacks as -1 in its place.
func TestListRules(t *testing.T) {
	c, err := Parse("test.toml", []byte(`
[[tier]]
name = "fast"
path = "/t/fast"
kind = "local"
[[tier]]
name = "nfs1"
path = "/t/nfs1"
kind = "nfs"
[[tier]]
name = "nfs2"
path = "/t/nfs2"
kind = "nfs"
[[rule]]
match = "index/**"
tier = "fast"
[[rule]]
match = "index2/{hash}/{user}/**"
tier = "fast"
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = ["nfs1", "nfs2"]
[[rule]]
match = "**"
tier = "fast"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.ListRules()
	want := []policy.ListRule{
		{Match: "index2/{hash}/{user}/**", Tier: []string{"fast"}},
		{Match: "mail/{hash}/{user}/**", Tier: []string{"fast"}, DemoteTo: []string{"nfs1", "nfs2"}},
	}
	if !slices.EqualFunc(got, want, func(a, b policy.ListRule) bool {
		return a.Match == b.Match && slices.Equal(a.Tier, b.Tier) && slices.Equal(a.DemoteTo, b.DemoteTo)
	}) {
		t.Errorf("ListRules = %+v, want %+v", got, want)
	}
	p := policy.PendingRebalance{ListRule: policy.ListRule{Match: "mail/{hash}/{user}/**", Tier: []string{"fast"},
		DemoteTo: []string{"gone", "nfs2"}}, Since: time.Unix(1800000000, 0)}
	old, err := c.OldLists([]policy.PendingRebalance{p})
	if err != nil || len(old) != 1 {
		t.Fatalf("OldLists: %v, %v", old, err)
	}
	if !slices.Equal(old[0].Tiers, policy.Spread{0}) || !slices.Equal(old[0].DemoteTo, policy.Spread{-1, 2}) || old[0].Key != p.Key() {
		t.Errorf("OldLists = %+v, want tiers [0], demote_to [-1 2], key %q", old[0], p.Key())
	}
}
