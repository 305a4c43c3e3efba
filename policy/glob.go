package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Captures holds what a glob's {hash} and {user} segments matched. A field
// is empty when the glob has no such capture.
type Captures struct{ Hash, User string }

// Glob is a compiled path pattern over paths relative to the mount root.
//
// Segments are separated by "/". Within a segment, `*`, `?` and `[...]`
// work as in path.Match. A segment that is exactly `**` matches zero or
// more whole segments, so "volatile/**" matches "volatile" itself and
// everything below it. A segment that is exactly `{hash}` matches two
// lowercase hex digits (Dovecot's %2.256Nu) and a segment that is exactly
// `{user}` matches any one segment; both capture what they matched.
type Glob struct {
	pattern string
	segs    []segment
}

type segKind uint8

const (
	segLiteral segKind = iota // compared with ==
	segPattern                // path.Match
	segAny                    // `**`
	segHash                   // `{hash}`
	segUser                   // `{user}`
)

type segment struct {
	kind segKind
	text string // literal text or path.Match pattern
}

// CompileGlob parses pattern. The error names the pattern and says what is
// wrong with which segment.
func CompileGlob(pattern string) (*Glob, error) {
	if pattern == "" {
		return nil, errors.New(`empty pattern (use "**" to match everything)`)
	}
	if strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("%q: must be relative to the mount root, without a leading /", pattern)
	}
	g := &Glob{pattern: pattern}
	var seen Captures // "x" marks a capture already used
	parts := strings.Split(pattern, "/")
	for i, s := range parts {
		seg, err := compileSegment(s, &seen)
		if err != nil {
			if len(parts) == 1 {
				return nil, fmt.Errorf("%q: %w", pattern, err)
			}
			return nil, fmt.Errorf("%q: segment %d %q: %w", pattern, i+1, s, err)
		}
		// Consecutive `**` are one `**`; collapsing them keeps Match linear
		// in the common patterns.
		if seg.kind == segAny && len(g.segs) > 0 && g.segs[len(g.segs)-1].kind == segAny {
			continue
		}
		g.segs = append(g.segs, seg)
	}
	return g, nil
}

func compileSegment(s string, seen *Captures) (segment, error) {
	switch {
	case s == "":
		return segment{}, errors.New("empty segment (doubled or trailing /)")
	case s == "." || s == "..":
		return segment{}, errors.New("dot segments are not allowed")
	case s == "**":
		return segment{kind: segAny}, nil
	case s == "{hash}":
		if seen.Hash != "" {
			return segment{}, errors.New("capture {hash} used twice")
		}
		seen.Hash = "x"
		return segment{kind: segHash}, nil
	case s == "{user}":
		if seen.User != "" {
			return segment{}, errors.New("capture {user} used twice")
		}
		seen.User = "x"
		return segment{kind: segUser}, nil
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		return segment{}, fmt.Errorf("unknown capture %s, want {hash} or {user}", s)
	case strings.Contains(s, "**"):
		return segment{}, errors.New("** must be a whole segment")
	}
	if hasUnescaped(s, "{}") {
		return segment{}, errors.New("captures {hash} and {user} must be a whole segment (escape a literal brace as \\{)")
	}
	if _, err := path.Match(s, ""); err != nil {
		return segment{}, fmt.Errorf("bad pattern: %w", err)
	}
	if !hasUnescaped(s, `*?[\`) {
		return segment{kind: segLiteral, text: s}, nil
	}
	return segment{kind: segPattern, text: s}, nil
}

// hasUnescaped reports whether s has one of chars outside a backslash
// escape. A backslash itself is found when chars contains it.
func hasUnescaped(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(chars, s[i]) >= 0 {
			return true
		}
		if s[i] == '\\' {
			i++
		}
	}
	return false
}

// String returns the pattern the glob was compiled from.
func (g *Glob) String() string { return g.pattern }

// IsCatchAll reports whether g matches every path, the root included,
// however it is spelled ("**", "**/**").
func (g *Glob) IsCatchAll() bool {
	return len(g.segs) == 1 && g.segs[0].kind == segAny
}

// Match reports whether path matches g and what the captures matched.
// path is relative to the mount root without a leading slash
// ("mail/f5/alice/cur/x"); "" is the root. Match does not allocate.
func (g *Glob) Match(path string) (Captures, bool) {
	var c Captures
	if !matchSegs(g.segs, path, &c) {
		return Captures{}, false
	}
	return c, true
}

// matchSegs matches segs against path p, where "" means no segments.
// Each segment other than `**` consumes exactly one path segment, so the
// classic wildcard algorithm applies: on a mismatch, let the most recent
// `**` swallow one more segment and retry from just after it. That is
// O(len(segs)·segments(p)) however many `**` a pattern has, where plain
// recursion would be exponential in them. A capture set on an abandoned
// attempt is overwritten by the successful one, because every capture
// after the last `**` is matched again on it; on overall failure Match
// drops them.
func matchSegs(segs []segment, p string, c *Captures) bool {
	si, star, starP := 0, -1, ""
	for {
		if si < len(segs) && segs[si].kind == segAny {
			if si == len(segs)-1 {
				return true
			}
			star, starP = si, p
			si++
			continue
		}
		if si < len(segs) && p != "" {
			head, rest := splitFirst(p)
			if segs[si].match(head, c) {
				si, p = si+1, rest
				continue
			}
		} else if si == len(segs) && p == "" {
			return true
		}
		if star < 0 || starP == "" {
			return false
		}
		_, starP = splitFirst(starP)
		si, p = star+1, starP
	}
}

func (s *segment) match(name string, c *Captures) bool {
	switch s.kind {
	case segLiteral:
		return name == s.text
	case segPattern:
		ok, _ := path.Match(s.text, name)
		return ok
	case segHash:
		if len(name) != 2 || !isLowerHex(name[0]) || !isLowerHex(name[1]) {
			return false
		}
		c.Hash = name
		return true
	case segUser:
		if name == "" {
			return false
		}
		c.User = name
		return true
	}
	return false
}

func isLowerHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f'
}

// splitFirst splits p into its first segment and the rest ("" if none).
func splitFirst(p string) (head, rest string) {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}
