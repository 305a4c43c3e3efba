package fs

import (
	"cmp"
	"math/bits"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// dirCopies holds the copies of an open shared directory (shared.go)
// open on their tiers, so that the open directory follows the directory
// itself, as an NFS client's follows its file handle. This host learns
// that another host renamed the directory only at its next lookup of a
// name; until then the node's path names what is at the old path now:
// another directory, or nothing. Per-user directories do without: while
// one is open, its user's lease keeps every other host away.
//
// A copy the node learns of later (one this host makes on another tier
// for a new name, or one another host made) is opened too, while the
// node's path still names the directory. So a copy another host adds on
// another tier after renaming the directory is missed until the
// directory is opened again, as an NFS client's readdir may miss entries
// added while it reads.
type dirCopies struct {
	mu  sync.Mutex
	set copySet // guarded by mu; a copy is what an operation reads
}

// copySet is the open copies of a directory. A descriptor stays valid
// in a copy of the set until Releasedir, which go-fuse and the kernel
// send only once no request on the handle is running.
type copySet struct {
	path string // where the directory is known to be (see current)
	mask uint64 // the tiers with a copy open
	fds  [maxTiers]int
}

// openCopies opens every copy of shared directory n. A copy that
// vanished since n learned of it is left out, and so is one on a down
// tier while another opens: listing then fails as node.list does, when
// current tries it again.
func (n *node) openCopies() (*dirCopies, syscall.Errno) {
	p, e := n.relPath()
	if e != 0 {
		return nil, e
	}
	n.learnCopiesAt(p)
	c := &dirCopies{set: copySet{path: p}}
	down, e := c.set.open(n, n.dirs.Load())
	if e == 0 && c.set.mask == 0 {
		e = cmp.Or(down, syscall.ENOENT)
	}
	if e != 0 {
		c.set.close()
		return nil, e
	}
	return c, 0
}

// open opens the copies at s.path on the tiers of mask. As node.list,
// it skips a copy missing there and one on a down tier that does not
// hold the path's bucket; it reports the error of a copy on another
// down tier as down, and stops at any other error.
func (s *copySet) open(n *node, mask uint64) (down, e syscall.Errno) {
	for ti, t := range n.r.tiers {
		if mask&bit(ti) == 0 || s.mask&bit(ti) != 0 {
			continue
		}
		fd, err := t.OpenDir(s.path)
		switch {
		case missing(err) || err != nil && n.r.downForeign(s.path, ti):
		case err != nil && !t.Up():
			down = cmp.Or(down, errno(err))
		case err != nil:
			return down, errno(err)
		default:
			s.fds[ti] = fd
			s.mask |= bit(ti)
		}
	}
	return down, 0
}

// close closes the copies.
func (s *copySet) close() {
	for ti := range s.fds {
		if s.mask&bit(ti) != 0 {
			unix.Close(s.fds[ti])
		}
	}
	s.mask = 0
}

// close closes the copies at Releasedir.
func (c *dirCopies) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set.close()
}

// current returns the copies to read. If the node's path names the
// directory, that is where it is known to be now (this host renamed it,
// or learned another host's rename by a lookup), and the copies the
// node learned of since are opened there; the error is that of one
// that could not be opened.
func (c *dirCopies) current(n *node) (copySet, syscall.Errno) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, e := n.relPath()
	if e != 0 {
		return c.set, 0 // removed: nothing more to learn
	}
	n.learnCopiesAt(p)
	want := n.dirs.Load() &^ c.set.mask
	if want == 0 && p == c.set.path {
		return c.set, 0
	}
	if !c.set.at(n, p) {
		return c.set, 0 // another directory is at p now, or none
	}
	c.set.path = p
	down, e := c.set.open(n, want)
	return c.set, cmp.Or(e, down)
}

// at reports whether path p names the directory: on the first tier
// with a copy open, p is that copy.
func (s *copySet) at(n *node, p string) bool {
	if s.mask == 0 {
		return false
	}
	ti := bits.TrailingZeros64(s.mask)
	t := n.r.tiers[ti]
	var held, found unix.Stat_t
	return t.Fstat(s.fds[ti], &held) == nil && t.Lstat(p, &found) == nil &&
		held.Dev == found.Dev && held.Ino == found.Ino
}

// list reads the copies from their start and merges them as node.list
// does.
func (s copySet) list(n *node) (*listing, syscall.Errno) {
	n.names.RLock() // see node.list
	defer n.names.RUnlock()
	// A copy missing now was removed.
	lists, copies, _, e := n.readCopies(s.path, s.mask, func(t *tiers.Tier, ti int) ([]tiers.Dirent, error) {
		return t.ReadDirFd(s.fds[ti])
	})
	if e != 0 {
		return nil, e
	}
	return n.listingOf(s.path, lists[:len(n.r.tiers)], copies), 0
}

// stat stats the copies as dirStat stats a directory's path.
func (s copySet) stat(n *node, st *unix.Stat_t) syscall.Errno {
	return n.statCopies(s.path, s.mask, st, func(ti int, cs *unix.Stat_t) error {
		return n.r.tiers[ti].Fstat(s.fds[ti], cs)
	})
}

// fsync flushes the copies.
func (s copySet) fsync(n *node) syscall.Errno {
	for ti, t := range n.r.tiers {
		if s.mask&bit(ti) == 0 {
			continue
		}
		if err := t.FsyncDirFd(s.fds[ti]); err != nil {
			return errno(err)
		}
	}
	return 0
}
