package mover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tierfs/tierfs/policy"
)

// clusterMove is a tierMove in a cluster: fakeHolder holds the users.
type clusterMove struct {
	*tierMove
	*fakeHolder
}

const scopeRules = `
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = "slow"
[[rule]]
match = "**"
tier = "fast"
`

// A scheduled pass scans the whole tree on the mover leader and only
// the users held here on another host, unless a rebalance is pending
// or the leader is unknown; a pass asked for scans the whole tree.
func TestPassScope(t *testing.T) {
	old := time.Now().Add(-40 * 24 * time.Hour)
	tests := []struct {
		name      string
		leader    string
		err       error
		o         Options
		pending   bool
		scope     string
		scanned   int64
		moved     []string // users whose mail went to slow
		otherHost int64
	}{
		{"leader", "a", nil, Options{Scheduled: true}, false, "whole tree (leader)", 4, []string{"ab/alice", "ef/carol"}, 1},
		{"not leader", "0", nil, Options{Scheduled: true}, false, "1 users held here (leader: 0)", 2, []string{"ab/alice"}, 0},
		{"not leader, asked for", "0", nil, Options{}, false, "whole tree (asked for; leader: 0)", 4, []string{"ab/alice", "ef/carol"}, 1},
		{"not leader, rebalance pending", "0", nil, Options{Scheduled: true}, true, "whole tree (rebalance pending; leader: 0)", 4, []string{"ab/alice", "ef/carol"}, 1},
		{"leader unknown", "a", errors.New("EIO"), Options{Scheduled: true}, false, "whole tree (leader unknown)", 4, []string{"ab/alice", "ef/carol"}, 1},
		{"--user", "0", nil, Options{Scheduled: true, User: "carol"}, false, "", 4, []string{"ef/carol"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names := []string{"fast", "slow"}
			ts := localTiers(t, names...)
			pol := policyOn(t, names, scopeRules)
			if tc.pending {
				g, err := policy.CompileGlob("index/**")
				if err != nil {
					t.Fatal(err)
				}
				pol.Placement = pol.Placement.WithPending([]policy.OldLists{{Glob: g, Tiers: policy.Spread{1}, Key: "k"}})
			}
			for _, u := range []string{"ab/alice", "cd/bob", "ef/carol"} {
				put(t, ts[0], "mail/"+u+"/cur/1", u, old)
			}
			put(t, ts[0], "mail/ab/alice/cur/2", "alice 2", time.Now())
			h := &fakeHolder{busy: map[string]bool{"cd/bob": true}, mine: []string{"ab/alice"}}
			m, err := New(Config{Tiers: ts, Policy: pol, Move: &clusterMove{&tierMove{ts: ts}, h}})
			if err != nil {
				t.Fatal(err)
			}
			m.SetCluster("a", func() (string, error) { return tc.leader, tc.err })
			r, err := m.RunOnce(context.Background(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Scope.String(); got != tc.scope {
				t.Errorf("scope %q, want %q", got, tc.scope)
			}
			if r.Scanned != tc.scanned || r.OtherHosts != tc.otherHost || r.Files != int64(len(tc.moved)) {
				t.Errorf("scanned %d, moved %d, other hosts %d; want %d, %d, %d", r.Scanned, r.Files, r.OtherHosts, tc.scanned, len(tc.moved), tc.otherHost)
			}
			for _, u := range tc.moved {
				if _, err := os.Stat(filepath.Join(ts[1].Path, "mail", u, "cur/1")); err != nil {
					t.Errorf("%s's old mail not on slow: %v", u, err)
				}
			}
		})
	}
}

// A pass that scanned only the users held here never clears a pending
// rebalance, even with none of its names left: the other users' files
// were not looked at.
func TestPartialPassKeepsRebalance(t *testing.T) {
	names := []string{"fast", "slow"}
	ts := localTiers(t, names...)
	pol := policyOn(t, names, scopeRules)
	g, err := policy.CompileGlob("mail/{hash}/{user}/**")
	if err != nil {
		t.Fatal(err)
	}
	pol.Placement = pol.Placement.WithPending([]policy.OldLists{{Glob: g, Tiers: policy.Spread{1}, Key: "k"}})
	m, err := New(Config{Tiers: ts, Policy: pol, Move: &tierMove{ts: ts}})
	if err != nil {
		t.Fatal(err)
	}
	cleared := 0
	m.SetRebalanced(func([]string) error { cleared++; return nil })
	for _, sc := range []*Scope{{Users: 1, Leader: "b"}, {Whole: true, Why: WhyLeader}} {
		r := &Report{Scope: sc, Rebalance: &RebalanceReport{Pending: 1}}
		m.settleRebalance(pol, Options{Scheduled: true}, r, 0)
		if r.Rebalance.Finished != sc.Whole {
			t.Errorf("scope %s: finished %v (%s)", sc, r.Rebalance.Finished, r.Rebalance.Why)
		}
	}
	if cleared != 1 {
		t.Errorf("record cleared %d times, want once (by the whole pass)", cleared)
	}
}
