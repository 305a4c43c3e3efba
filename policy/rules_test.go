package policy

import (
	"slices"
	"strings"
	"testing"
)

func mustRules(t testing.TB, specs ...any) []Rule {
	t.Helper()
	var rules []Rule
	for i := 0; i < len(specs); i += 2 {
		g, err := CompileGlob(specs[i].(string))
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, Rule{Glob: g, Tier: specs[i+1].(int)})
	}
	return rules
}

func TestPlacement(t *testing.T) {
	// Tiers: 0 tmp, 1 fast, 2 slow.
	p, err := NewPlacement(mustRules(t,
		"volatile/**", 0,
		"listindex/**", 0,
		"index/**", 1,
		"mail/{hash}/{user}/**", 2,
		"**", 1,
	), 3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		rule  int
		tier  int
		order []int
		c     Captures
	}{
		{"", 4, 1, []int{1, 0, 2}, Captures{}},
		{"volatile", 0, 0, []int{0, 1, 2}, Captures{}},
		{"volatile/f5/alice/mailboxes.lock", 0, 0, []int{0, 1, 2}, Captures{}},
		{"listindex/f5/alice/dovecot.list.index.log", 1, 0, []int{0, 1, 2}, Captures{}},
		{"index/f5/alice/.INBOX/dovecot.index", 2, 1, []int{1, 0, 2}, Captures{}},
		{"mail/f5/alice/cur/x", 3, 2, []int{2, 0, 1}, Captures{"f5", "alice"}},
		{"mail/f5", 4, 1, []int{1, 0, 2}, Captures{}},
		{"other", 4, 1, []int{1, 0, 2}, Captures{}},
	}
	for _, tt := range tests {
		rule, c := p.Match(tt.path)
		if rule != tt.rule || c != tt.c {
			t.Errorf("Match(%q) = %d, %+v; want %d, %+v", tt.path, rule, c, tt.rule, tt.c)
		}
		if got := p.Tier(tt.path); got != tt.tier {
			t.Errorf("Tier(%q) = %d, want %d", tt.path, got, tt.tier)
		}
		if got := p.Order(tt.path); !slices.Equal(got, tt.order) {
			t.Errorf("Order(%q) = %v, want %v", tt.path, got, tt.order)
		}
	}
	if n := testing.AllocsPerRun(100, func() { p.Order("mail/f5/alice/cur/x") }); n != 0 {
		t.Errorf("Order allocates %v times per call, want 0", n)
	}
}

func TestNewPlacementErrors(t *testing.T) {
	tests := []struct {
		name   string
		rules  []Rule
		ntiers int
		want   string
	}{
		{"no rules", nil, 2, "no rules"},
		{"no tiers", mustRules(t, "**", 0), 0, "no tiers"},
		{"too many tiers", mustRules(t, "**", 0), MaxTiers + 1, "33 tiers, more than the 32 supported"},
		{"tier too big", mustRules(t, "a/**", 2, "**", 0), 2, `rule 1 ("a/**"): tier 2 out of range [0, 2)`},
		{"negative tier", mustRules(t, "**", -1), 2, "tier -1 out of range"},
		{"no catch-all", mustRules(t, "a/**", 0), 2, `last rule matches "a/**", want the catch-all "**"`},
		{"catch-all not last", mustRules(t, "**", 0, "a/**", 1), 2, "want the catch-all"},
		{"nil glob", []Rule{{Tier: 0}}, 1, "rule 1: no glob"},
	}
	for _, tt := range tests {
		_, err := NewPlacement(tt.rules, tt.ntiers)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewPlacement error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func BenchmarkPlacementOrder(b *testing.B) {
	p, err := NewPlacement(mustRules(b,
		"volatile/**", 0, "listindex/**", 0, "index/**", 1, "mail/**", 2, "**", 1), 3)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p.Order("mail/f5/alice/cur/1700000000.M1P2.host:2,S")
	}
}
