package policy

import "testing"

func TestUserDir(t *testing.T) {
	g, err := CompileGlob("mail/{hash}/{user}")
	if err != nil {
		t.Fatal(err)
	}
	if !g.EndsWithUser() {
		t.Fatal("EndsWithUser = false")
	}
	for _, tc := range []struct {
		p, dir, user string
		ok           bool
	}{
		{"mail/ab/alice", "mail/ab/alice", "alice", true},
		{"mail/ab/alice/cur/1.M2", "mail/ab/alice", "alice", true},
		{"mail/ab", "", "", false},
		{"mail", "", "", false},
		{"", "", "", false},
		{"mail/zz/alice", "", "", false},
		{"index/ab/alice", "", "", false},
		{"mail/ab/alice@example.com/new", "mail/ab/alice@example.com", "alice@example.com", true},
	} {
		dir, c, ok := g.UserDir(tc.p)
		if dir != tc.dir || c.User != tc.user || ok != tc.ok {
			t.Errorf("UserDir(%q) = %q, %q, %v; want %q, %q, %v", tc.p, dir, c.User, ok, tc.dir, tc.user, tc.ok)
		}
	}
	for _, pat := range []string{"mail/**/{user}", "mail/{user}/x", "mail/{hash}"} {
		g, err := CompileGlob(pat)
		if err != nil {
			t.Fatal(err)
		}
		if g.EndsWithUser() {
			t.Errorf("%q: EndsWithUser = true", pat)
		}
	}
}
