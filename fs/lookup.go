package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// missing reports errors that mean "not on this tier".
func missing(err error) bool { return err == unix.ENOENT || err == unix.ENOTDIR }

// find returns the tier that holds p (a child of n) and its stat. It
// asks only the tiers holding n, in p's rule order, so the expected tier
// answers first and a name on two tiers resolves to the one with
// priority. A tier that might hold p but cannot answer makes the result
// EIO, never ENOENT.
func (n *node) find(p string, st *unix.Stat_t) (int, syscall.Errno) {
	mask := n.dirs.Load()
	for _, ti := range n.r.placement().Order(p) {
		if mask&bit(ti) == 0 {
			continue
		}
		err := n.r.tiers[ti].Lstat(p, st)
		if err == nil {
			return ti, 0
		}
		if !missing(err) {
			return -1, errno(err)
		}
	}
	return -1, n.confirmMissing()
}

// confirmMissing answers ENOENT only if every tier holding n is still
// attached: a lazily unmounted tier keeps answering through its root
// descriptor, and its "no such file" must become EIO.
func (n *node) confirmMissing() syscall.Errno {
	mask := n.dirs.Load()
	for ti, t := range n.r.tiers {
		if mask&bit(ti) != 0 && t.Attached() != nil {
			return syscall.EIO
		}
	}
	return syscall.ENOENT
}

// dirCopies stats directory p on the tiers after first (which holds it),
// folding their times into st and returning the mask of tiers holding it.
func (n *node) dirCopies(p string, first int, st *unix.Stat_t) (uint64, syscall.Errno) {
	mask := bit(first)
	parentMask := n.dirs.Load()
	for ti, t := range n.r.tiers {
		if ti == first || parentMask&bit(ti) == 0 {
			continue
		}
		var s unix.Stat_t
		err := t.Lstat(p, &s)
		if missing(err) {
			continue
		}
		if err != nil {
			return 0, errno(err)
		}
		if s.Mode&unix.S_IFMT == unix.S_IFDIR {
			mask |= bit(ti)
			mergeDirStat(st, &s)
		}
	}
	return mask, 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.ENOENT
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	n.r.moves.wait(p)
	var st unix.Stat_t
	ti, e := n.find(p, &st)
	if e != 0 {
		return nil, e
	}
	var dirs uint64
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if dirs, e = n.dirCopies(p, ti, &st); e != 0 {
			return nil, e
		}
	}
	fillAttr(&out.Attr, &st)
	return n.newChild(ctx, ti, p, &st, dirs), 0
}
