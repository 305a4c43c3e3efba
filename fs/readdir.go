package fs

import (
	"sort"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/tiers"
)

// listing is a directory's merged entries and, for each, the tier its
// copy is on (-1 for "." and "..").
type listing struct {
	ents  []fuse.DirEntry
	tiers []int8
}

func (l *listing) add(ti int, d fuse.DirEntry) {
	l.ents = append(l.ents, d)
	l.tiers = append(l.tiers, int8(ti))
}

// list merges the directory's copies: each name once, with the type
// and inode number of the copy that a lookup of that name would find.
func (n *node) list() (*listing, syscall.Errno) {
	// A listing for the name index is read under Root.tree, so that n
	// is not renamed between its path and its copies (see names.go);
	// while a rename holds it, the listing is only not learned.
	start, index := n.listingStarted()
	if index && !n.r.tree.TryRLock() {
		index = false
	}
	if index {
		defer n.r.tree.RUnlock()
	}
	p, e := n.relPath()
	if e != 0 {
		return nil, e
	}
	n.learnShared()
	n.names.RLock()
	defer n.names.RUnlock()
	mask := n.dirs.Load()
	if index {
		n.r.crashAt("name-index-list")
	}
	lists, copies, partial, e := n.readCopies(p, mask, func(t *tiers.Tier, _ int) ([]tiers.Dirent, error) {
		return t.ReadDir(p)
	})
	if e != 0 {
		return nil, e
	}
	if partial {
		index = false // not every copy is at p
	}
	if index {
		n.learnNames(start, mask, lists[:len(n.r.tiers)])
	}
	return n.listingOf(p, lists[:len(n.r.tiers)], copies), 0
}

// readCopies reads the directory's copies on the tiers of mask with
// read. A copy that is missing, or on a down tier that does not hold
// p's bucket, is left out (partial says so); any other error fails, and
// so does finding no copy (ENOENT).
func (n *node) readCopies(p string, mask uint64, read func(t *tiers.Tier, ti int) ([]tiers.Dirent, error)) (lists [maxTiers][]tiers.Dirent, copies int, partial bool, e syscall.Errno) {
	for ti, t := range n.r.tiers {
		if mask&bit(ti) == 0 {
			continue
		}
		ents, err := read(t, ti)
		if missing(err) || err != nil && n.r.downForeign(p, ti) {
			partial = true
			continue
		}
		if err != nil {
			return lists, 0, partial, errno(err)
		}
		lists[ti] = ents
		copies++
	}
	if copies == 0 {
		return lists, 0, partial, syscall.ENOENT
	}
	return lists, copies, partial, 0
}

// listingOf merges the entries of the directory's copies (one list per
// tier, copies of them read), with "." and ".."; p is the directory's
// path, for the rule order of a name on several tiers.
func (n *node) listingOf(p string, lists [][]tiers.Dirent, copies int) *listing {
	l := &listing{}
	l.add(-1, fuse.DirEntry{Name: ".", Mode: fuse.S_IFDIR})
	l.add(-1, fuse.DirEntry{Name: "..", Mode: fuse.S_IFDIR})
	if copies == 1 {
		n.single(lists, l)
	} else {
		n.merge(p, lists, l)
	}
	return l
}

// single lists a directory that exists on one tier.
func (n *node) single(lists [][]tiers.Dirent, l *listing) {
	for ti, ents := range lists {
		for _, d := range ents {
			if !n.hidden(d.Name) {
				l.add(ti, dirEntry(ti, d))
			}
		}
	}
}

// merge lists a directory with copies on several tiers; a name on more
// than one tier shows as the copy first in its rule order.
func (n *node) merge(p string, lists [][]tiers.Dirent, l *listing) {
	type seen struct {
		ti int
		d  tiers.Dirent
	}
	byName := map[string][]seen{}
	var names []string
	for ti, ents := range lists {
		for _, d := range ents {
			if n.hidden(d.Name) {
				continue
			}
			if _, ok := byName[d.Name]; !ok {
				names = append(names, d.Name)
			}
			byName[d.Name] = append(byName[d.Name], seen{ti, d})
		}
	}
	sort.Strings(names) // a stable order across calls
	for _, name := range names {
		cands := byName[name]
		best := cands[0]
		if len(cands) > 1 {
			child := name
			if p != "" {
				child = p + "/" + name
			}
		order:
			for _, ti := range n.r.placement().Order(child) {
				for _, c := range cands {
					if c.ti == ti {
						best = c
						break order
					}
				}
			}
		}
		l.add(best.ti, dirEntry(best.ti, best.d))
	}
}

// dirEntry is the entry for d, found on tier ti. A moved file's d_ino is
// its number on ti, not the one it keeps (Root.fileID): finding that
// costs a map lookup per entry for the nodes the kernel holds (a tenth
// of a listing's rate, measured) and an xattr read for the others (four
// times slower).
func dirEntry(ti int, d tiers.Dirent) fuse.DirEntry {
	return fuse.DirEntry{Name: d.Name, Ino: ino(ti, d.Ino), Mode: uint32(d.Type) << 12}
}
