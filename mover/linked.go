package mover

import (
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// linkKey names a backing file on a tier: its hard links share it.
type linkKey struct {
	tier     int
	dev, ino uint64
}

// linkGroup is the names of one hard-linked file that the scan wants to
// move, each judged on its own.
type linkGroup struct {
	nlink uint64
	names []candidate
}

// addLinked files candidate c, a name of a file with st_nlink > 1,
// under its backing inode.
func (s *scan) addLinked(f file, st *unix.Stat_t, c candidate) {
	k := linkKey{tier: f.tier, dev: st.Dev, ino: st.Ino}
	g := s.linked[k]
	if g == nil {
		g = &linkGroup{nlink: uint64(st.Nlink)}
		s.linked[k] = g
	}
	if uint64(st.Nlink) != g.nlink {
		g.nlink = 0 // linked or unlinked during the walk: never complete
	}
	g.names = append(g.names, s.checked(f, c))
}

// groupLinked turns each hard-linked file into one candidate carrying
// all its names. It moves only if the walk found every name (names under
// tierfs's own directories, whose rule keeps them where they are, or
// outside the user filter are not found), each would move to the same tier and none is skipped for
// another reason.
func (s *scan) groupLinked() []candidate {
	var out []candidate
	for _, g := range s.linked {
		slices.SortFunc(g.names, func(a, b candidate) int { return strings.Compare(a.path, b.path) })
		c := g.names[0]
		for _, n := range g.names {
			c.links = append(c.links, n.path)
			c.room = c.room || n.room
		}
		c.skip = g.skip()
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.path, b.path) })
	return out
}

// skip says why a hard-linked file may not move ("" if it may).
func (g *linkGroup) skip() string {
	if uint64(len(g.names)) != g.nlink {
		return SkipLinkedPartial
	}
	for _, n := range g.names {
		if n.skip != "" {
			return n.skip
		}
	}
	for _, n := range g.names[1:] {
		if n.dst != g.names[0].dst {
			return SkipLinkedDisagree
		}
	}
	return ""
}
