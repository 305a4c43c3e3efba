package policy

import (
	"slices"
	"testing"
	"time"
)

// rebalancePlacement: tiers 0 tmp, 1 fast, 2 nfs1, 3 nfs2, 4 nfs3, 5 nfs4;
// mail demotes to the four exports, and pending holds the three it
// demoted to before nfs4 joined.
func rebalancePlacement(t testing.TB, pending bool) *Placement {
	t.Helper()
	rules := mustRules(t, "volatile/**", 0, "mail/{hash}/{user}/**", 1, "**", 1)
	rules[1].DemoteTo = Spread{2, 3, 4, 5}
	p, err := NewPlacement(rules, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !pending {
		return p
	}
	g, err := CompileGlob("mail/{hash}/{user}/**")
	if err != nil {
		t.Fatal(err)
	}
	return p.WithPending([]OldLists{{Glob: g, Tiers: Spread{1}, DemoteTo: Spread{2, 3, 4}, Key: "k"}})
}

// TestPassByPending: an old member of a path's bucket is not passed by
// while the rebalance is pending; members that held other buckets then
// and now still are, and paths of unchanged buckets are as before.
func TestPassByPending(t *testing.T) {
	before, p := rebalancePlacement(t, false), rebalancePlacement(t, true)
	tests := []struct {
		path          string
		before, after uint64 // PassBy without and with the pending old lists
		stale         uint64
	}{
		// 0x50: nfs1 under three members, nfs2 under four.
		{"mail/50/u/cur/x", 1<<2 | 1<<4 | 1<<5, 1<<4 | 1<<5, 1 << 2},
		{"mail/50/u", 1<<2 | 1<<4 | 1<<5, 1<<4 | 1<<5, 1 << 2},
		{"mail/50", 1<<2 | 1<<4 | 1<<5, 1<<4 | 1<<5, 1 << 2},
		// 0x10: nfs1 both times.
		{"mail/10/u/cur/x", 1<<3 | 1<<4 | 1<<5, 1<<3 | 1<<4 | 1<<5, 0},
		// 0xff: nfs3 under three, nfs4 under four.
		{"mail/ff/u/new/y", 1<<2 | 1<<3 | 1<<4, 1<<2 | 1<<3, 1 << 4},
		{"mail", 0, 0, 0},
		{"volatile/50/u", 0, 0, 0},
	}
	for _, tt := range tests {
		if got := before.PassBy(tt.path); got != tt.before {
			t.Errorf("without pending: PassBy(%q) = %b, want %b", tt.path, got, tt.before)
		}
		if got := p.PassBy(tt.path); got != tt.after {
			t.Errorf("pending: PassBy(%q) = %b, want %b", tt.path, got, tt.after)
		}
		if got := p.Foreign(tt.path); got != tt.before {
			t.Errorf("pending: Foreign(%q) = %b, want %b: overflow must still avoid old members", tt.path, got, tt.before)
		}
		if got := p.Stale(tt.path); got != tt.stale {
			t.Errorf("Stale(%q) = %b, want %b", tt.path, got, tt.stale)
		}
		if got := before.Stale(tt.path); got != 0 {
			t.Errorf("without pending: Stale(%q) = %b, want 0", tt.path, got)
		}
	}
	for name, f := range map[string]func(){
		"PassBy": func() { p.PassBy("mail/50/u/cur/x") }, "Stale": func() { p.Stale("mail/50/u/cur/x") },
		"PassBy unchanged": func() { p.PassBy("mail/10/u/cur/x") },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

// TestPassByPendingOneTierToList: a rule that demoted to one tier and
// now spreads keeps that tier for every bucket while pending; an old
// member the config no longer has (-1) and an old rule whose match is
// gone still count.
func TestPassByPendingOneTierToList(t *testing.T) {
	rules := mustRules(t, "mail/{hash}/{user}/**", 1, "**", 1)
	rules[0].DemoteTo = Spread{2, 3}
	p, err := NewPlacement(rules, 4)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := CompileGlob("mail/{hash}/{user}/**")
	gone, _ := CompileGlob("mail/{hash}/**")
	if got := p.PassBy("mail/ff/u/cur/x"); got != 1<<2 {
		t.Fatalf("PassBy = %b, want nfs1 (tier 2)", got)
	}
	q := p.WithPending([]OldLists{{Glob: g, Tiers: Spread{1}, DemoteTo: Spread{2}}})
	if got := q.PassBy("mail/ff/u/cur/x"); got != 0 {
		t.Errorf("one tier to a list: PassBy = %b, want 0", got)
	}
	q = p.WithPending([]OldLists{{Glob: gone, Tiers: Spread{-1, 2}}})
	if got := q.PassBy("mail/ff/u/cur/x"); got != 0 {
		t.Errorf("old rule mail/{hash}/**: PassBy = %b, want 0", got)
	}
	if got := q.PassBy("mail/00/u/cur/x"); got != 1<<3 {
		t.Errorf("bucket 00, whose old member is gone: PassBy = %b, want tier 3 (the other member now)", got)
	}
	if len(p.Pending()) != 0 || len(q.Pending()) != 1 {
		t.Errorf("WithPending changed its receiver or lost the entry: %d, %d", len(p.Pending()), len(q.Pending()))
	}
}

func lists(demote ...string) ListRule {
	return ListRule{Match: "mail/{hash}/{user}/**", Tier: []string{"fast"}, DemoteTo: demote}
}

func TestMergeRebalance(t *testing.T) {
	t1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	idx := ListRule{Match: "index/{hash}/{user}/**", Tier: []string{"fast"}}
	three, four := lists("nfs1", "nfs2", "nfs3"), lists("nfs1", "nfs2", "nfs3", "nfs4")
	rec := func(ls []ListRule, ps ...PendingRebalance) *RebalanceRecord {
		return &RebalanceRecord{Lists: ls, Pending: ps}
	}
	pend := func(l ListRule, at time.Time) PendingRebalance { return PendingRebalance{ListRule: l, Since: at} }
	tests := []struct {
		name string
		recs []*RebalanceRecord
		cur  []ListRule
		want []PendingRebalance
	}{
		{"first mount", nil, []ListRule{three}, nil},
		{"no record on any tier", []*RebalanceRecord{nil, nil}, []ListRule{three}, nil},
		{"same lists", []*RebalanceRecord{rec([]ListRule{idx, three})}, []ListRule{idx, three}, nil},
		{"reordered rules", []*RebalanceRecord{rec([]ListRule{idx, three})}, []ListRule{three, idx}, nil},
		{"growing list", []*RebalanceRecord{rec([]ListRule{idx, three})}, []ListRule{idx, four}, []PendingRebalance{pend(three, t2)}},
		{"shrinking list", []*RebalanceRecord{rec([]ListRule{four})}, []ListRule{three}, []PendingRebalance{pend(four, t2)}},
		{"one tier to a list", []*RebalanceRecord{rec([]ListRule{lists("slow")})}, []ListRule{three}, []PendingRebalance{pend(lists("slow"), t2)}},
		{"rule removed", []*RebalanceRecord{rec([]ListRule{idx, three})}, []ListRule{idx}, []PendingRebalance{pend(three, t2)}},
		{"repeated changes accumulate", []*RebalanceRecord{rec([]ListRule{four}, pend(three, t1))}, []ListRule{lists("nfs2", "nfs3")},
			[]PendingRebalance{pend(three, t1), pend(four, t2)}},
		{"pending kept while unchanged", []*RebalanceRecord{rec([]ListRule{four}, pend(three, t1))}, []ListRule{four}, []PendingRebalance{pend(three, t1)}},
		{"reverted: the current lists are not pending", []*RebalanceRecord{rec([]ListRule{four}, pend(three, t1))}, []ListRule{three},
			[]PendingRebalance{pend(four, t2)}},
		{"copies disagree (crash between them)", []*RebalanceRecord{rec([]ListRule{four}, pend(three, t1)), rec([]ListRule{three}), nil},
			[]ListRule{four}, []PendingRebalance{pend(three, t1)}},
	}
	for _, tt := range tests {
		got := MergeRebalance(tt.recs, tt.cur, t2)
		if !slices.EqualFunc(got.Pending, tt.want, samePending) {
			t.Errorf("%s: pending %+v, want %+v", tt.name, got.Pending, tt.want)
		}
		if !slices.EqualFunc(got.Lists, tt.cur, ListRule.same) {
			t.Errorf("%s: lists %+v, want %+v", tt.name, got.Lists, tt.cur)
		}
	}
}

func samePending(a, b PendingRebalance) bool { return a.same(b.ListRule) && a.Since.Equal(b.Since) }

// TestWithoutPending: a finished rebalance clears only the entries it
// was checked against; one added since stays.
func TestWithoutPending(t *testing.T) {
	t1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a := PendingRebalance{ListRule: lists("nfs1"), Since: t1}
	b := PendingRebalance{ListRule: lists("nfs1", "nfs2"), Since: t1.Add(time.Minute)}
	r := RebalanceRecord{Lists: []ListRule{lists("nfs1", "nfs2", "nfs3")}, Pending: []PendingRebalance{a, b}}
	got := r.WithoutPending([]string{a.Key()})
	if len(got.Pending) != 1 || !samePending(got.Pending[0], b) {
		t.Errorf("pending %+v, want only %+v", got.Pending, b)
	}
	if len(r.Pending) != 2 {
		t.Errorf("WithoutPending changed its receiver: %+v", r.Pending)
	}
	stale := PendingRebalance{ListRule: a.ListRule, Since: t1.Add(time.Second)}
	if got := r.WithoutPending([]string{stale.Key()}); len(got.Pending) != 2 {
		t.Errorf("an entry of the same lists but another time was cleared: %+v", got.Pending)
	}
}
