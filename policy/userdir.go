package policy

import "strings"

// EndsWithUser reports whether g names per-user directories: its last
// segment is {user} and no segment is `**`, so that every match has the
// same depth and a path lies beneath at most one match.
func (g *Glob) EndsWithUser() bool {
	if len(g.segs) == 0 || g.segs[len(g.segs)-1].kind != segUser {
		return false
	}
	for _, s := range g.segs {
		if s.kind == segAny {
			return false
		}
	}
	return true
}

// UserDir returns the per-user directory that p (a path inside the
// mount) is or lies beneath, for a glob that EndsWithUser: dir is the
// first segments of p that g matches, and c what they captured. ok is
// false when no prefix of p matches.
func (g *Glob) UserDir(p string) (dir string, c Captures, ok bool) {
	n := len(g.segs)
	end := 0
	for i := range n {
		if end > len(p) || (i > 0 && end == len(p)) {
			return "", Captures{}, false
		}
		if i > 0 {
			end++ // the "/"
		}
		next := strings.IndexByte(p[end:], '/')
		if next < 0 {
			end = len(p)
		} else {
			end += next
		}
	}
	if p == "" {
		return "", Captures{}, false
	}
	c, ok = g.Match(p[:end])
	if !ok {
		return "", Captures{}, false
	}
	return p[:end], c, true
}

// AboveUser reports whether p (a path inside the mount) lies above g's
// per-user directories, for a glob that EndsWithUser: p has fewer
// segments than g and each matches g's. A directory there may hold
// per-user directories; the root always may.
func (g *Glob) AboveUser(p string) bool {
	var c Captures
	for i := 0; p != ""; i++ {
		if i >= len(g.segs)-1 {
			return false
		}
		head, rest := splitFirst(p)
		if !g.segs[i].match(head, &c) {
			return false
		}
		p = rest
	}
	return true
}

// Expandable reports whether UserPath can name g's directories: g
// EndsWithUser and has no pattern segment.
func (g *Glob) Expandable() bool {
	if !g.EndsWithUser() {
		return false
	}
	for _, s := range g.segs {
		if s.kind == segPattern {
			return false
		}
	}
	return true
}

// UserPath returns the per-user directory g names for a user, for a glob
// that EndsWithUser: its segments with hash and user put in. hash is ""
// for a user of a glob without {hash}. ok is false when g and hash
// disagree on having a hash, or g has a segment that is a pattern (its
// directories can only be found by listing).
func (g *Glob) UserPath(hash, user string) (string, bool) {
	if !g.Expandable() {
		return "", false
	}
	parts := make([]string, len(g.segs))
	hashed := false
	for i, s := range g.segs {
		switch s.kind {
		case segLiteral:
			parts[i] = s.text
		case segHash:
			parts[i], hashed = hash, true
		case segUser:
			parts[i] = user
		default:
			return "", false
		}
	}
	if hashed != (hash != "") {
		return "", false
	}
	p := strings.Join(parts, "/")
	if _, ok := g.Match(p); !ok {
		return "", false // not a hash {hash} matches, or a user name with a /
	}
	return p, true
}
