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

// UserPath is UserDir's inverse for globs of literal segments and
// captures; for the others a scan must list directories.
func TestUserPath(t *testing.T) {
	for _, tc := range []struct {
		pat, hash, user, want string
		ok                    bool
	}{
		{"mail/{hash}/{user}", "ab", "alice", "mail/ab/alice", true},
		{"srv/mail/{hash}/{user}", "0f", "a@b.c", "srv/mail/0f/a@b.c", true},
		{"sieve/{user}", "", "alice", "sieve/alice", true},
		{"sieve/{user}", "ab", "alice", "", false},
		{"mail/{hash}/{user}", "", "alice", "", false},
		{"mail/{hash}/{user}", "zz", "alice", "", false},
		{"mail/{hash}/{user}", "ab", "a/b", "", false},
		{"mail*/{hash}/{user}", "ab", "alice", "", false},
		{"mail/**/{user}", "", "alice", "", false},
	} {
		g, err := CompileGlob(tc.pat)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := g.UserPath(tc.hash, tc.user)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q.UserPath(%q, %q) = %q, %v; want %q, %v", tc.pat, tc.hash, tc.user, got, ok, tc.want, tc.ok)
		}
		if ok {
			if dir, c, _ := g.UserDir(got + "/cur/x"); dir != got || c.User != tc.user || c.Hash != tc.hash {
				t.Errorf("%q: UserDir(%q) = %q %+v, not the inverse", tc.pat, got+"/cur/x", dir, c)
			}
		}
	}
}

// AboveUser tells the directories that may hold per-user directories.
func TestAboveUser(t *testing.T) {
	for _, tc := range []struct {
		pat, p string
		want   bool
	}{
		{"mail/{hash}/{user}", "", true},
		{"mail/{hash}/{user}", "mail", true},
		{"mail/{hash}/{user}", "mail/ab", true},
		{"mail/{hash}/{user}", "mail/ab/alice", false},
		{"mail/{hash}/{user}", "mail/ab/alice/cur", false},
		{"mail/{hash}/{user}", "mail/zz", false},
		{"mail/{hash}/{user}", "mail/README", false},
		{"mail/{hash}/{user}", "public", false},
		{"mail/{hash}/{user}", "public/mail", false},
		{"{user}", "", true},
		{"{user}", "alice", false},
		{"m*/{user}", "mail2", true},
		{"m*/{user}", "x", false},
	} {
		g, err := CompileGlob(tc.pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.AboveUser(tc.p); got != tc.want {
			t.Errorf("%q: AboveUser(%q) = %v, want %v", tc.pat, tc.p, got, tc.want)
		}
	}
}
