package mover

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/policy"
)

// staleMove is a tierMove that counts renames of unmoved names as
// *fs.Root does; rename makes each Move count one, as a rename through
// the mount during the pass would.
type staleMove struct {
	*tierMove
	done   uint64
	rename bool
}

func (m *staleMove) StaleChanges() (uint64, int64) { return m.done, 0 }

func (m *staleMove) Move(ctx context.Context, p string, dst int) (int64, error) {
	if m.rename {
		m.done++
	}
	return m.tierMove.Move(ctx, p, dst)
}

// TestPassFinishesRebalance: mail demoted to nfs1 alone now spreads
// over nfs1 and nfs2, so bucket ff's files on nfs1 are left of the
// rebalance. Only a complete pass that leaves none clears it: not a
// dry run, a --user pass, a pass that skips an open one, or one during
// which such a name was renamed through the mount. A directory only
// nfs1 holds is copied to its rule's tier.
func TestPassFinishesRebalance(t *testing.T) {
	names := []string{"fast", "nfs1", "nfs2"}
	ts := localTiers(t, names...)
	pol := policyOn(t, names, `
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = ["nfs1", "nfs2"]
[[rule]]
match = "**"
tier = "fast"
`)
	g, err := policy.CompileGlob("mail/{hash}/{user}/**")
	if err != nil {
		t.Fatal(err)
	}
	pol.Placement = pol.Placement.WithPending([]policy.OldLists{{Glob: g, Tiers: policy.Spread{0}, DemoteTo: policy.Spread{1}, Key: "k"}})
	old := time.Now().Add(-40 * 24 * time.Hour)
	put(t, ts[1], "mail/ff/u/cur/a", "a", old)
	put(t, ts[1], "mail/ff/u/cur/open", "o", old)
	put(t, ts[1], "mail/00/v/cur/b", "b", old) // bucket 00 stays on nfs1
	if err := os.MkdirAll(filepath.Join(ts[1].Path, "mail/ff/w/cur"), 0o755); err != nil {
		t.Fatal(err)
	}
	prim := &staleMove{tierMove: &tierMove{ts: ts, skip: map[string]error{"mail/ff/u/cur/open": fs.ErrOpen}}}
	m, err := New(Config{Tiers: ts, Policy: pol, Move: prim})
	if err != nil {
		t.Fatal(err)
	}
	var cleared [][]string
	m.SetRebalanced(func(keys []string) error { cleared = append(cleared, keys); return nil })
	pass := func(o Options) *RebalanceReport {
		t.Helper()
		r, err := m.RunOnce(context.Background(), o)
		if err != nil || r.Rebalance == nil {
			t.Fatalf("pass %+v: %v, report %+v", o, err, r)
		}
		return r.Rebalance
	}
	// Left: a, open, and the directories only nfs1 holds for bucket ff
	// (mail/ff, its users' trees and their cur/).
	if rb := pass(Options{DryRun: true}); rb.Left != 2+5 || rb.Finished {
		t.Errorf("dry run: %+v, want 7 names left", rb)
	}
	if rb := pass(Options{User: "u"}); rb.Finished || len(cleared) != 0 {
		t.Errorf("--user pass: %+v, cleared %v", rb, cleared)
	}
	if rb := pass(Options{}); rb.Finished || rb.Left != 1 || len(cleared) != 0 {
		t.Errorf("pass with an open file: %+v, cleared %v; want the open one left", rb, cleared)
	}
	delete(prim.skip, "mail/ff/u/cur/open")
	prim.rename = true
	if rb := pass(Options{}); rb.Finished || rb.Left != 0 || rb.Why == "" || len(cleared) != 0 {
		t.Errorf("pass with a rename during it: %+v, cleared %v; want it not to count", rb, cleared)
	}
	prim.rename = false
	if rb := pass(Options{}); !rb.Finished || rb.Left != 0 || len(cleared) != 1 || !slices.Equal(cleared[0], []string{"k"}) {
		t.Errorf("complete pass: %+v, cleared %v; want k cleared", rb, cleared)
	}
	for p, tier := range map[string]int{"mail/ff/u/cur/a": 2, "mail/ff/u/cur/open": 2, "mail/00/v/cur/b": 1, "mail/ff/w/cur": 0} {
		if _, err := os.Stat(filepath.Join(ts[tier].Path, p)); err != nil {
			t.Errorf("%s not on %s: %v", p, names[tier], err)
		}
	}
}
