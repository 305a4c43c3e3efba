package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tierfs/tierfs/policy"
)

// TierNames is a rule's tier or demote_to as written: one tier name
// (`tier = "fast"`), or a list of tier names the rule's {hash} buckets
// spread over (`tier = ["nfs1", "nfs2", "nfs3"]`): bucket b goes to
// member floor(b*len/256). Empty is no tier.
type TierNames []string

// UnmarshalTOML accepts a string or an array of strings.
func (n *TierNames) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*n = nil
		if v != "" { // "" is no tier, as an absent key is
			*n = TierNames{v}
		}
		return nil
	case []any:
		names := make(TierNames, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("element %d: want a tier name in quotes, not %v", i+1, e)
			}
			names = append(names, s)
		}
		*n = names
		return nil
	}
	return fmt.Errorf("want a tier name in quotes or a list of them, not %v", v)
}

// MarshalTOML writes one name as a string and a list as an array, so
// that Marshal round-trips.
func (n TierNames) MarshalTOML() ([]byte, error) {
	if len(n) == 1 {
		return []byte(strconv.Quote(n[0])), nil
	}
	q := make([]string, len(n))
	for i, s := range n {
		q[i] = strconv.Quote(s)
	}
	return []byte("[" + strings.Join(q, ", ") + "]"), nil
}

// String writes the names as a person reads them: "nfs1", or
// "[nfs1, nfs2]" for a list.
func (n TierNames) String() string {
	if len(n) == 1 {
		return n[0]
	}
	return "[" + strings.Join(n, ", ") + "]"
}

// IsList reports whether the names spread buckets: a one-element list
// is one tier.
func (n TierNames) IsList() bool { return len(n) > 1 }

// spread resolves names to tier indexes; ok is false (and the spread
// nil) if a name is not a tier.
func (c *Config) spread(names TierNames) (s policy.Spread, ok bool) {
	for _, n := range names {
		ti := c.TierIndex(n)
		if ti < 0 {
			return nil, false
		}
		s = append(s, ti)
	}
	return s, true
}

// memberField names member m of a rule's field: "rule[2].tier" for one
// name, "rule[2].tier[3]" in a list.
func memberField(field string, names TierNames, m int) string {
	if !names.IsList() {
		return field
	}
	return fmt.Sprintf("%s[%d]", field, m+1)
}

// validateList checks what a list needs beyond its members: a {hash}
// capture to spread by, distinct members, and members that all keep
// data across a reboot or all do not (a user's durability must not
// depend on the user's hash).
func (c *Config) validateList(fail failFunc, f, key, match string, names TierNames) {
	if !names.IsList() {
		return
	}
	if g, err := policy.CompileGlob(match); err == nil && !g.HasHash() {
		fail(f+"."+key, "a list of tiers needs a {hash} capture in match to spread by (e.g. \"mail/{hash}/**\"); match is %q", match)
	}
	if len(names) > policy.Buckets {
		fail(f+"."+key, "%d tiers, more than the %d buckets", len(names), policy.Buckets)
	}
	first := -1
	for m, n := range names {
		ti := c.TierIndex(n)
		if ti < 0 {
			continue
		}
		fm := memberField(f+"."+key, names, m)
		if j := slices.Index(names, n); j < m {
			fail(fm, "%q is also %s[%d]; members must be distinct tiers", n, key, j+1)
		}
		if first < 0 {
			first = ti
		} else if c.Tiers[ti].Kind.Persistent() != c.Tiers[first].Kind.Persistent() {
			fail(fm, "%q is %s, but %q is %s: members must all be persistent (local, nfs) or all tmpfs", n, c.Tiers[ti].Kind, c.Tiers[first].Name, c.Tiers[first].Kind)
		}
	}
}
