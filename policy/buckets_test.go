package policy

import (
	"fmt"
	"slices"
	"testing"
)

func TestBucket(t *testing.T) {
	for _, tt := range []struct {
		hash string
		want int
	}{{"00", 0}, {"0f", 15}, {"a0", 160}, {"ff", 255}, {"76", 0x76}, {"FF", -1}, {"f", -1}, {"fff", -1}, {"g0", -1}, {"", -1}} {
		if got := Bucket(tt.hash); got != tt.want {
			t.Errorf("Bucket(%q) = %d, want %d", tt.hash, got, tt.want)
		}
	}
}

// TestMemberRanges checks every member holds one contiguous range, the
// ranges cover 00..ff in member order and BucketRange names them.
func TestMemberRanges(t *testing.T) {
	for n := 1; n <= MaxTiers; n++ {
		next := 0
		for m := range n {
			first, last := BucketRange(m, n)
			if first != next || last < first {
				t.Fatalf("n=%d: member %d holds %d..%d, want it to start at %d", n, m, first, last, next)
			}
			for b := first; b <= last; b++ {
				if got := Member(b, n); got != m {
					t.Fatalf("n=%d: Member(%d) = %d, want %d", n, b, got, m)
				}
			}
			next = last + 1
		}
		if next != Buckets {
			t.Fatalf("n=%d: ranges end at %d, want %d", n, next, Buckets)
		}
	}
	if got := FormatRange(BucketRange(1, 3)); got != "56..aa" {
		t.Errorf("member 2 of 3 = %s, want 56..aa", got)
	}
}

func spreadPlacement(t testing.TB) *Placement {
	t.Helper()
	// Tiers: 0 tmp, 1 fast, 2 nfs1, 3 nfs2, 4 nfs3, 5 nfs4.
	rules := mustRules(t, "volatile/**", 0, "mail/{hash}/{user}/**", 1, "direct/{hash}/**", 0, "**", 1)
	rules[1].DemoteTo = Spread{2, 3, 4}
	rules[2].Tiers = Spread{3, 4, 5}
	p, err := NewPlacement(rules, 6)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlacementSpread(t *testing.T) {
	p := spreadPlacement(t)
	tests := []struct {
		path    string
		tier    int
		demote  int
		order   []int
		foreign uint64
	}{
		{"mail/00/u/cur/x", 1, 2, []int{1, 0, 2, 3, 4, 5}, 1<<3 | 1<<4},
		{"mail/55/u", 1, 2, nil, 1<<3 | 1<<4},
		{"mail/56/u/new/x", 1, 3, nil, 1<<2 | 1<<4},
		{"mail/aa/u", 1, 3, nil, 1<<2 | 1<<4},
		{"mail/ab/u", 1, 4, nil, 1<<2 | 1<<3},
		{"mail/ff/u/cur/y", 1, 4, nil, 1<<2 | 1<<3},
		{"direct/00", 3, -1, []int{3, 0, 1, 2, 4, 5}, 1<<4 | 1<<5},
		{"direct/80/a/b", 4, -1, []int{4, 0, 1, 2, 3, 5}, 1<<3 | 1<<5},
		{"direct/ff/a", 5, -1, []int{5, 0, 1, 2, 3, 4}, 1<<3 | 1<<4},
		{"mail", 1, -1, nil, 0},
		{"mail/56", 1, -1, nil, 1<<2 | 1<<4}, // a bucket's directory, above the rule's match
		{"direct", 1, -1, nil, 0},
		{"direct/80", 4, -1, nil, 1<<3 | 1<<5},
		{"", 1, -1, nil, 0},
		{"volatile/00/u", 0, -1, nil, 0},
	}
	for _, tt := range tests {
		if got := p.Tier(tt.path); got != tt.tier {
			t.Errorf("Tier(%q) = %d, want %d", tt.path, got, tt.tier)
		}
		ri, c := p.Match(tt.path)
		if got := p.Rule(ri).Demote(c); got != tt.demote {
			t.Errorf("Demote(%q) = %d, want %d", tt.path, got, tt.demote)
		}
		if got := p.Order(tt.path); tt.order != nil && !slices.Equal(got, tt.order) {
			t.Errorf("Order(%q) = %v, want %v", tt.path, got, tt.order)
		}
		if got := p.Foreign(tt.path); got != tt.foreign {
			t.Errorf("Foreign(%q) = %b, want %b", tt.path, got, tt.foreign)
		}
	}
	for path, own := range map[string]uint64{"mail": 0, "mail/ab": 0, "mail/ab/u": 1<<2 | 1<<3 | 1<<4, "direct/80/x": 1<<3 | 1<<4 | 1<<5} {
		if all, got := p.Listed(path); all != 0b111100 || got != own {
			t.Errorf("Listed(%q) = %b, %b; want 111100, %b", path, all, got, own)
		}
	}
	for _, path := range []string{"mail/ab/u/cur/x", "direct/80/a/b"} {
		for name, f := range map[string]func(){
			"Tier": func() { p.Tier(path) }, "Order": func() { p.Order(path) }, "Foreign": func() { p.Foreign(path) },
		} {
			if n := testing.AllocsPerRun(100, f); n != 0 {
				t.Errorf("%s(%q) allocates %v times per call, want 0", name, path, n)
			}
		}
	}
}

// TestPlacementSpreadEveryBucket checks each bucket of a spread rule
// lands on the member floor(b*n/256) names, as UserHash computes it.
func TestPlacementSpreadEveryBucket(t *testing.T) {
	p := spreadPlacement(t)
	for b := range Buckets {
		h := fmt.Sprintf("%02x", b)
		if got, want := p.Tier("direct/"+h+"/x"), 3+b*3/256; got != want {
			t.Fatalf("bucket %s on tier %d, want %d", h, got, want)
		}
	}
	if h := UserHash("hello"); p.Tier("direct/"+h+"/x") != 4 { // 76 of 00..55, 56..aa, ab..ff
		t.Errorf("hello (bucket %s) on tier %d, want 4 (the second member holds 56..aa)", h, p.Tier("direct/"+h+"/x"))
	}
}

// TestForeignKeepsOtherRules: a tier another rule may place a path
// below on is never foreign there.
func TestForeignKeepsOtherRules(t *testing.T) {
	rules := mustRules(t, "mail/{hash}/{user}/**", 1, "**/shared/**", 2, "**", 1)
	rules[0].DemoteTo = Spread{2, 3}
	p, err := NewPlacement(rules, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Foreign("mail/ff/u/cur/x"); got != 0 {
		t.Errorf("Foreign = %b, want 0: tier 2 may hold mail/ff/u/shared", got)
	}
	if got := p.Foreign("mail/00/u/cur/x"); got != 1<<3 {
		t.Errorf("Foreign = %b, want tier 3", got)
	}
}

func TestNewPlacementSpreadErrors(t *testing.T) {
	noHash := mustRules(t, "mail/**", 0, "**", 0)
	noHash[0].Tiers = Spread{0, 1}
	if _, err := NewPlacement(noHash, 2); err == nil || err.Error() != `rule 1 ("mail/**"): a list of tiers needs a {hash} capture to spread by` {
		t.Errorf("list without {hash}: %v", err)
	}
	bad := mustRules(t, "mail/{hash}/**", 0, "**", 0)
	bad[0].DemoteTo = Spread{1, 2}
	if _, err := NewPlacement(bad, 2); err == nil || err.Error() != `rule 1 ("mail/{hash}/**"): tier 2 out of range [0, 2)` {
		t.Errorf("member out of range: %v", err)
	}
}

func BenchmarkPlacementOrderSpread(b *testing.B) {
	p := spreadPlacement(b)
	for b.Loop() {
		p.Order("mail/f5/alice/cur/1700000000.M1P2.host:2,S")
	}
}
