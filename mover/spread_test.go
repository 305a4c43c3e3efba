package mover

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/config"
)

// spreadTiers adds three NFS exports (tiers 3, 4, 5) to testTiers.
const spreadTiers = `
[[tier]]
name = "nfs1"
path = "/t/nfs1"
kind = "nfs"
[[tier]]
name = "nfs2"
path = "/t/nfs2"
kind = "nfs"
[[tier]]
name = "nfs3"
path = "/t/nfs3"
kind = "nfs"
`

const spreadRules = `
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = ["nfs1", "nfs2", "nfs3"]
[[rule]]
match = "direct/{hash}/**"
tier = ["nfs1", "nfs2"]
[[rule]]
match = "**"
tier = "fast"
`

// TestDecideSpread: the demote target is the file's bucket's member, a
// file on another member is misplaced and goes to its own, and one
// already on its member stays.
func TestDecideSpread(t *testing.T) {
	pol := testPolicy(t, spreadTiers+spreadRules)
	now := time.Unix(1800000000, 0)
	old, young := now.Add(-31*24*time.Hour), now.Add(-29*24*time.Hour)
	tests := []struct {
		name   string
		path   string
		tier   int
		mtime  time.Time
		dst    int
		demote bool
	}{
		{"bucket 00 demoted to nfs1", "mail/00/u/cur/a", 1, old, 3, true},
		{"bucket 55 demoted to nfs1", "mail/55/u/cur/a", 1, old, 3, true},
		{"bucket 56 demoted to nfs2", "mail/56/u/cur/a", 1, old, 4, true},
		{"bucket ff demoted to nfs3", "mail/ff/u/cur/a", 1, old, 5, true},
		{"young stays", "mail/ff/u/cur/a", 1, young, -1, false},
		{"on its member stays", "mail/ab/u/cur/a", 5, old, -1, false},
		{"on another member, old: to its member", "mail/ab/u/cur/a", 3, old, 5, true},
		{"on another member, young: home", "mail/ab/u/cur/a", 4, young, 1, false},
		{"tier list: on its member", "direct/7f/x", 3, old, -1, false},
		{"tier list: misplaced to its member", "direct/80/x", 3, old, 4, false},
		{"tier list: from fast to its member", "direct/00/x", 1, old, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &unix.Stat_t{Size: 10, Nlink: 1, Mtim: unix.NsecToTimespec(tt.mtime.UnixNano())}
			d := pol.decide(file{path: tt.path, tier: tt.tier}, now, func(ti int) bool { return ti == 0 },
				func() (*unix.Stat_t, error) { return st, nil })
			if d.dst != tt.dst || d.demote != tt.demote {
				t.Errorf("decide(%s on %d) = dst %d demote %v, want %d %v", tt.path, tt.tier, d.dst, d.demote, tt.dst, tt.demote)
			}
		})
	}
	if got := pol.demoteTiers(1); !slices.Equal(got, []int{3, 4, 5}) {
		t.Errorf("demoteTiers(fast) = %v, want every member [3 4 5]", got)
	}
	cfg, err := config.Parse("test.toml", []byte(testTiers+spreadTiers+spreadRules))
	if err != nil {
		t.Fatal(err)
	}
	if got := Targets(cfg); !slices.Equal(got, []int{1, 3, 4, 5}) {
		t.Errorf("Targets = %v, want fast and every member", got)
	}
	if !pol.Unnamed[0] || pol.Unnamed[3] || pol.Unnamed[4] || pol.Unnamed[5] {
		t.Errorf("Unnamed = %v, want only tmp (tier 0) unnamed", pol.Unnamed)
	}
}
