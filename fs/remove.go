package fs

import (
	"context"
	"syscall"

	"golang.org/x/sys/unix"
)

// tiersUp fails with EIO when a tier holding directory n is down: a
// change made while it cannot be seen could leave a stale name there.
func (n *node) tiersUp() syscall.Errno {
	mask := n.dirs.Load()
	for ti, t := range n.r.tiers {
		if mask&bit(ti) != 0 && !t.Up() {
			return syscall.EIO
		}
	}
	return 0
}

// removable resolves child name of n for a removal: tierfs's own names
// do not exist, and every tier holding n must be up.
func (n *node) removable(name string) (string, syscall.Errno) {
	if n.hidden(name) {
		return "", syscall.ENOENT
	}
	p, e := n.childPath(name)
	if e != 0 {
		return "", e
	}
	return p, n.tiersUp()
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if e := n.leasedChild(ctx, name); e != 0 {
		return e
	}
	p, e := n.removable(name)
	if e != 0 {
		return e
	}
	n.r.moves.interrupt(p)
	// Remove the name from every tier: a copy left behind by an
	// interrupted move would otherwise reappear.
	removed, everywhere := false, true
	mask := n.dirs.Load()
	for _, ti := range n.r.placement().Order(p) {
		if mask&bit(ti) == 0 {
			continue
		}
		err := n.r.tiers[ti].Unlink(p)
		switch {
		case err == nil:
			removed = true
		case missing(err):
		case !removed:
			return errno(err)
		default:
			everywhere = false
			n.r.log.Warn("unlink: could not remove a second copy", "path", p, "tier", n.r.tiers[ti].Name, "err", err)
		}
	}
	if everywhere {
		n.forgetGone(name)
	} else {
		n.forget(name)
	}
	if !removed {
		return syscall.ENOENT
	}
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if e := n.leasedChild(ctx, name); e != 0 {
		return e
	}
	n.r.dirCopies.RLock()
	defer n.r.dirCopies.RUnlock()
	p, e := n.removable(name)
	if e != 0 {
		return e
	}
	copies, e := n.dirCopiesOf(p)
	if e != 0 {
		return e
	}
	if len(copies) == 0 {
		return syscall.ENOENT
	}
	// Check every copy is empty before removing any, so a refused rmdir
	// changes nothing.
	for _, ti := range copies {
		ents, err := n.r.tiers[ti].ReadDir(p)
		if err != nil {
			return errno(err)
		}
		if len(ents) > 0 {
			return syscall.ENOTEMPTY
		}
	}
	n.keepRemovedDir(name, p)
	for _, ti := range copies {
		if err := n.r.tiers[ti].Rmdir(p); err != nil && !missing(err) {
			n.forget(name) // some copies may be gone
			return errno(err)
		}
	}
	n.forgetGone(name)
	if ch := n.knownChild(name); ch != nil {
		ch.abandonNames() // go-fuse drops its node
	}
	return 0
}

// dirCopiesOf lists the tiers (among n's) on which child p is a
// directory. A non-directory found there makes it ENOTDIR.
func (n *node) dirCopiesOf(p string) ([]int, syscall.Errno) {
	var out []int
	mask := n.dirs.Load()
	for _, ti := range n.r.placement().Order(p) {
		if mask&bit(ti) == 0 {
			continue
		}
		var st unix.Stat_t
		err := n.r.tiers[ti].Lstat(p, &st)
		if missing(err) {
			continue
		}
		if err != nil {
			return nil, errno(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if len(out) == 0 {
				return nil, syscall.ENOTDIR
			}
			continue
		}
		out = append(out, ti)
	}
	return out, 0
}

// keepRemovedDir records the attributes of directory child name (at p)
// that is about to be removed, in the node the kernel holds for it: once
// it is gone from every tier, fstat of a descriptor still open on it has
// nothing else to answer from, and natively it still answers (with no
// links).
func (n *node) keepRemovedDir(name, p string) {
	ch := n.knownChild(name)
	if ch == nil || !ch.IsDir() {
		return
	}
	var st unix.Stat_t
	if ch.dirStat(p, &st) == 0 {
		st.Nlink = 0
		ch.removed.Store(&st)
	}
}
