package policy

import "testing"

// refMatch is the obvious recursive matcher, exponential in the number
// of `**` but easy to trust: the oracle for matchSegs.
func refMatch(segs []segment, p string, c *Captures) bool {
	if len(segs) == 0 {
		return p == ""
	}
	if segs[0].kind == segAny {
		for {
			if refMatch(segs[1:], p, c) {
				return true
			}
			if p == "" {
				return false
			}
			_, p = splitFirst(p)
		}
	}
	if p == "" {
		return false
	}
	head, rest := splitFirst(p)
	return segs[0].match(head, c) && refMatch(segs[1:], rest, c)
}

func checkAgainstRef(t *testing.T, pattern, p string) {
	g, err := CompileGlob(pattern)
	if err != nil {
		return
	}
	var rc Captures
	want := refMatch(g.segs, p, &rc)
	if !want {
		rc = Captures{}
	}
	c, ok := g.Match(p)
	if ok != want || c != rc {
		t.Fatalf("%q.Match(%q) = %+v, %v; reference says %+v, %v", pattern, p, c, ok, rc, want)
	}
}

func TestGlobMatchesReference(t *testing.T) {
	patterns := []string{"**", "a/**", "**/a", "a/**/b", "**/a/**/b/**", "**/{hash}/{user}/**", "**/{user}", "{user}/**/x", "*/**/?", "**/a/*/a"}
	paths := []string{"", "a", "b", "a/b", "a/a/a", "a/x/b/y", "x/ab/u/b", "a/b/a/b/a", "mail/f5/alice/cur/x", "a/q/a", "a/q/a/a"}
	for _, pat := range patterns {
		for _, p := range paths {
			checkAgainstRef(t, pat, p)
		}
	}
}

func FuzzGlobMatchesReference(f *testing.F) {
	f.Add("a/**/b/**/c", "a/x/b/y/c")
	f.Add("**/{hash}/{user}/**", "mail/f5/alice/x")
	f.Fuzz(func(t *testing.T, pattern, p string) {
		if len(p) > 200 {
			return // keep the exponential oracle fast
		}
		checkAgainstRef(t, pattern, p)
	})
}

// TestGlobManyStarsIsFast guards against exponential backtracking: a
// deep mailbox path against a rule with many `**` must stay cheap.
func TestGlobManyStarsIsFast(t *testing.T) {
	g, err := CompileGlob("**/a/**/a/**/a/**/a/**/a/**/b")
	if err != nil {
		t.Fatal(err)
	}
	p := "a"
	for range 200 {
		p += "/a"
	}
	if _, ok := g.Match(p); ok {
		t.Fatal("matched")
	}
}
