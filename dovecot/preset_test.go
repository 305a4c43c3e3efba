package dovecot

import (
	"slices"
	"testing"

	"github.com/tierfs/tierfs/policy"
)

func TestPresetRules(t *testing.T) {
	got := PresetRules("tmp", "ssd", "nfs")
	want := []RuleSpec{
		{"volatile/**", "tmp", RoleTmpfs},
		{"listindex/**", "tmp", RoleTmpfs},
		{"index/**", "ssd", RoleFast},
		{"mail/**", "nfs", RoleMail},
		{"**", "ssd", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("PresetRules = %v, want %v", got, want)
	}
}

// TestSubtreesComplete checks the table covers each role and that every
// subtree has a 2.3 key and a 2.4 setting, since Settings and the rules
// both read it.
func TestSubtreesComplete(t *testing.T) {
	roles := map[string]bool{}
	names := map[string]bool{}
	for _, s := range Subtrees() {
		if names[s.Name] {
			t.Errorf("subtree %q twice", s.Name)
		}
		names[s.Name] = true
		roles[s.Role] = true
		if len(s.Params) == 0 || s.Why == "" {
			t.Errorf("subtree %q has no params or no reason", s.Name)
		}
		for _, p := range s.Params {
			if p.Set24 == "" {
				t.Errorf("subtree %q: param %q has no 2.4 setting", s.Name, p.Key23)
			}
		}
		if got, want := s.MountPath(), s.Name+"/{hash}/{user}"; got != want {
			t.Errorf("MountPath = %q, want %q", got, want)
		}
	}
	for _, r := range []string{RoleTmpfs, RoleFast, RoleMail} {
		if !roles[r] {
			t.Errorf("no subtree has role %q", r)
		}
	}
}

// TestMountPathMatchesDovecotPaths checks each subtree's glob matches the
// directory Dovecot computes for a user, and captures hash and user.
func TestMountPathMatchesDovecotPaths(t *testing.T) {
	for _, s := range Subtrees() {
		g, err := policy.CompileGlob(s.MountPath() + "/**")
		if err != nil {
			t.Fatal(err)
		}
		for _, user := range []string{"alice", "bob@example.com"} {
			p := s.Name + "/" + policy.UserHash(user) + "/" + user + "/x"
			c, ok := g.Match(p)
			if !ok || c.User != user || c.Hash != policy.UserHash(user) {
				t.Errorf("%s.Match(%q) = %+v, %v", g, p, c, ok)
			}
		}
	}
}
