package policy

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
		c             Captures
	}{
		{"**", "", true, Captures{}},
		{"**", "a", true, Captures{}},
		{"**", "a/b/c", true, Captures{}},
		{"volatile/**", "volatile", true, Captures{}},
		{"volatile/**", "volatile/f5/alice/x.lock", true, Captures{}},
		{"volatile/**", "volatilex", false, Captures{}},
		{"volatile/**", "", false, Captures{}},
		{"volatile/**", "mail/volatile", false, Captures{}},
		{"mail/{hash}/{user}/**", "mail/f5/alice/cur/1.M2:2,S", true, Captures{"f5", "alice"}},
		{"mail/{hash}/{user}/**", "mail/f5/alice", true, Captures{"f5", "alice"}},
		{"mail/{hash}/{user}/**", "mail/f5", false, Captures{}},
		{"mail/{hash}/{user}/**", "mail/F5/alice", false, Captures{}},
		{"mail/{hash}/{user}/**", "mail/f/alice", false, Captures{}},
		{"mail/{hash}/{user}/**", "mail/f5a/alice", false, Captures{}},
		{"mail/{hash}/{user}/**", "mail/g5/alice", false, Captures{}},
		{"mail/{hash}/{user}", "mail/00/bob@example.com", true, Captures{"00", "bob@example.com"}},
		{"mail/{hash}/{user}", "mail/00/bob/x", false, Captures{}},
		{"**/cur/*", "mail/f5/alice/cur/123", true, Captures{}},
		{"**/cur/*", "cur/123", true, Captures{}},
		{"**/cur/*", "mail/cur", false, Captures{}},
		{"**/dovecot.index*", "index/f5/alice/.INBOX/dovecot.index.log", true, Captures{}},
		{"a/**/b", "a/b", true, Captures{}},
		{"a/**/b", "a/x/y/b", true, Captures{}},
		{"a/**/b", "a/x/y/c", false, Captures{}},
		{"a/**/**/b", "a/b", true, Captures{}},
		{"**/{user}/new/*", "mail/f5/alice/new/m1", true, Captures{User: "alice"}},
		{"*/?5/[a-c]*", "mail/f5/alice", true, Captures{}},
		{"*/?5/[a-c]*", "mail/f5/dave", false, Captures{}},
		{`lit\*`, "lit*", true, Captures{}},
		{`lit\*`, "litx", false, Captures{}},
		{`br\{ace\}`, "br{ace}", true, Captures{}},
		{"a/b", "a/b", true, Captures{}},
		{"a/b", "a/b/c", false, Captures{}},
		{"a/b", "a", false, Captures{}},
		{"*", "", false, Captures{}},
		{"*", "x", true, Captures{}},
	}
	for _, tt := range tests {
		g, err := CompileGlob(tt.pattern)
		if err != nil {
			t.Fatalf("CompileGlob(%q): %v", tt.pattern, err)
		}
		c, ok := g.Match(tt.path)
		if ok != tt.want || c != tt.c {
			t.Errorf("%q.Match(%q) = %+v, %v; want %+v, %v", tt.pattern, tt.path, c, ok, tt.c, tt.want)
		}
		if g.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", g.String(), tt.pattern)
		}
	}
}

func TestCompileGlobErrors(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"", "empty pattern"},
		{"/mail/**", "leading /"},
		{"{hsh}", `"{hsh}": unknown capture {hsh}, want {hash} or {user}`},
		{"mail/{hsh}/x", `segment 2 "{hsh}": unknown capture {hsh}`},
		{"mail//x", "segment 2 \"\": empty segment"},
		{"mail/", "empty segment"},
		{"mail/../x", "dot segments"},
		{"./x", "dot segments"},
		{"mail/a**", "** must be a whole segment"},
		{"mail/x{hash}", "must be a whole segment"},
		{"{hash}/{hash}", "capture {hash} used twice"},
		{"{user}/a/{user}", "capture {user} used twice"},
		{"mail/[a-", "bad pattern"},
		{`mail/x\`, "bad pattern"},
	}
	for _, tt := range tests {
		_, err := CompileGlob(tt.pattern)
		if err == nil {
			t.Errorf("CompileGlob(%q) succeeded, want error containing %q", tt.pattern, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CompileGlob(%q) = %q, want it to contain %q", tt.pattern, err, tt.want)
		}
	}
}

func TestGlobMatchDoesNotAllocate(t *testing.T) {
	g, err := CompileGlob("**/{hash}/{user}/cur/*")
	if err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if _, ok := g.Match("mail/f5/alice/cur/1700000000.M1P2.host:2,S"); !ok {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
}

func BenchmarkGlobMatch(b *testing.B) {
	g, err := CompileGlob("mail/{hash}/{user}/**")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		g.Match("mail/f5/alice/cur/1700000000.M1P2.host:2,S")
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("mail/{hash}/{user}/**", "mail/f5/alice/cur/x")
	f.Add("**/cur/*", "a/b/cur/c")
	f.Add("a/**/b/**/c", "a/x/b/y/c")
	f.Add("[a-", "a")
	f.Fuzz(func(t *testing.T, pattern, p string) {
		g, err := CompileGlob(pattern)
		if err != nil {
			return
		}
		c, ok := g.Match(p)
		if !ok && c != (Captures{}) {
			t.Fatalf("failed match returned captures %+v", c)
		}
		if ok && c.Hash != "" && len(c.Hash) != 2 {
			t.Fatalf("hash capture %q is not two digits", c.Hash)
		}
	})
}
