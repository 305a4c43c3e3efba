package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/policy"
)

// spreadConfig has three NFS exports; mail is placed on fast and its
// buckets are demoted over the exports, and "direct" is placed over them.
const spreadConfig = `
[[tier]]
name = "tmp"
path = "/dev/shm/t"
kind = "tmpfs"

[[tier]]
name = "fast"
path = "/srv/fast"
kind = "local"

[[tier]]
name = "nfs1"
path = "/srv/nfs1"
kind = "nfs"

[[tier]]
name = "nfs2"
path = "/srv/nfs2"
kind = "nfs"

[[tier]]
name = "nfs3"
path = "/srv/nfs3"
kind = "nfs"

[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = ["nfs1", "nfs2", "nfs3"]

[[rule]]
match = "direct/{hash}/**"
tier = ["nfs1", "nfs2", "nfs3"]

[[rule]]
match = "**"
tier = "fast"
`

func TestParseSpread(t *testing.T) {
	c := mustParse(t, spreadConfig)
	if got := c.Rules[0].DemoteTo; !slices.Equal(got, TierNames{"nfs1", "nfs2", "nfs3"}) {
		t.Errorf("rule[1].demote_to = %v", got)
	}
	p := c.Placement
	for _, tt := range []struct {
		path         string
		tier, demote int
	}{
		{"mail/00/u/cur/x", 1, 2}, {"mail/55/u/cur/x", 1, 2}, {"mail/56/u/cur/x", 1, 3},
		{"mail/aa/u/cur/x", 1, 3}, {"mail/ab/u/cur/x", 1, 4}, {"mail/ff/u/cur/x", 1, 4},
		{"direct/00/x", 2, -1}, {"direct/80/x", 3, -1}, {"direct/ff/x", 4, -1},
	} {
		ri, caps := p.Match(tt.path)
		if got := p.Tier(tt.path); got != tt.tier {
			t.Errorf("Tier(%q) = %d, want %d", tt.path, got, tt.tier)
		}
		if got := p.Rule(ri).Demote(caps); got != tt.demote {
			t.Errorf("demote tier of %q = %d, want %d", tt.path, got, tt.demote)
		}
	}
	// Marshal writes the lists back as lists.
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `demote_to = ["nfs1", "nfs2", "nfs3"]`) || !strings.Contains(string(data), `tier = "fast"`) {
		t.Errorf("Marshal:\n%s", data)
	}
	back := mustParse(t, string(data))
	if !slices.Equal(back.Rules[1].Tier, c.Rules[1].Tier) || back.Placement.Tier("direct/ff/x") != 4 {
		t.Errorf("round trip: %v\n%s", back.Rules[1].Tier, data)
	}
	// A one-element list is one tier, without a {hash} capture.
	one := mustParse(t, strings.Replace(goodConfig, `tier = "slow"`, `tier = ["slow"]`, 1))
	if one.Placement.Tier("mail/ab/u/x") != 2 {
		t.Errorf("one-element list: tier %d", one.Placement.Tier("mail/ab/u/x"))
	}
}

func TestParseSpreadErrors(t *testing.T) {
	sp := func(old, new string) string {
		t.Helper()
		if !strings.Contains(spreadConfig, old) {
			t.Fatalf("spreadConfig has no %q", old)
		}
		return strings.Replace(spreadConfig, old, new, 1)
	}
	tests := []struct {
		name, config, field, reason string
	}{
		{"tier list without {hash}", sp(`match = "direct/{hash}/**"`, `match = "direct/**"`), "rule[2].tier",
			`a list of tiers needs a {hash} capture in match to spread by (e.g. "mail/{hash}/**"); match is "direct/**"`},
		{"demote list without {hash}", sp(`match = "mail/{hash}/{user}/**"`, `match = "mail/**"`), "rule[1].demote_to", "needs a {hash} capture"},
		{"unknown member", sp(`tier = ["nfs1", "nfs2", "nfs3"]`, `tier = ["nfs1", "nsf2", "nfs3"]`), "rule[2].tier[2]", `"nsf2" is not a tier (have: tmp, fast, nfs1, nfs2, nfs3)`},
		{"unknown demote member", sp(`demote_to = ["nfs1", "nfs2", "nfs3"]`, `demote_to = ["nfs1", "nfs2", "nfs4"]`), "rule[1].demote_to[3]", `"nfs4" is not a tier`},
		{"duplicate member", sp(`tier = ["nfs1", "nfs2", "nfs3"]`, `tier = ["nfs1", "nfs2", "nfs1"]`), "rule[2].tier[3]", `"nfs1" is also tier[1]; members must be distinct tiers`},
		{"mixed kinds", sp(`tier = ["nfs1", "nfs2", "nfs3"]`, `tier = ["nfs1", "tmp"]`), "rule[2].tier[2]", `"tmp" is tmpfs, but "nfs1" is nfs: members must all be persistent (local, nfs) or all tmpfs`},
		{"tmpfs demote member", sp(`demote_to = ["nfs1", "nfs2", "nfs3"]`, `demote_to = ["nfs1", "tmp"]`), "rule[1].demote_to[2]", `"tmp" is a tmpfs tier; demoted files must survive a reboot`},
		{"demote member is the bucket's tier", sp(`tier = ["nfs1", "nfs2", "nfs3"]`, "tier = [\"nfs1\", \"nfs2\", \"nfs3\"]\ndemote_to = [\"nfs2\", \"fast\"]"),
			"rule[2].demote_to[1]", `"nfs2" is the rule's own tier for bucket 56`},
		{"demote member is the one tier", sp(`tier = "fast"`+"\ndemote_after", `tier = "nfs2"`+"\ndemote_after"), "rule[1].demote_to[2]", `"nfs2" is the rule's own tier for bucket 56`},
		{"not a name", sp(`tier = ["nfs1", "nfs2", "nfs3"]`, `tier = ["nfs1", 2]`), "rule[2].tier", "element 2: want a tier name in quotes, not 2"},
		{"empty list", sp(`tier = ["nfs1", "nfs2", "nfs3"]`, `tier = []`), "rule[2].tier", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/tierfs.toml", []byte(tt.config))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			want := "/etc/tierfs.toml: " + tt.field + ": "
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q, want %q and %q", err, want, tt.reason)
			}
		})
	}
}

// A list's members get their buckets in order: the ranges an operator
// reads in the README.
func TestSpreadRangesDocumented(t *testing.T) {
	want := []string{"00..55", "56..aa", "ab..ff"}
	for m := range 3 {
		if got := policy.FormatRange(policy.BucketRange(m, 3)); got != want[m] {
			t.Errorf("member %d of 3 holds %s, want %s", m+1, got, want[m])
		}
	}
}
