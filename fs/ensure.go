package fs

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ensureOn makes directory n exist on tier ti, creating it (and missing
// ancestors) with the mode and owner the mount shows for them, and
// records the new copies in the nodes' tier masks.
func (n *node) ensureOn(ti int) syscall.Errno {
	if n.dirs.Load()&bit(ti) != 0 {
		return 0
	}
	p, e := n.relPath()
	if e != 0 {
		return e
	}
	if e := n.r.ensureDirPath(ti, p); e != 0 {
		return e
	}
	for x := n; x != nil; {
		x.dirs.Or(bit(ti))
		x.forgetSelf()
		_, parent := x.Parent()
		if parent == nil {
			break
		}
		x, _ = parent.Operations().(*node)
	}
	return 0
}

// ensureDirPath makes directory p exist on tier ti, copying each created
// level's mode, owner, identity and extended attributes from the copy
// with priority on another tier.
func (r *Root) ensureDirPath(ti int, p string) syscall.Errno {
	t := r.tiers[ti]
	var st unix.Stat_t
	err := t.Lstat(p, &st)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return 0
	case err == nil:
		return syscall.ENOTDIR
	case err != unix.ENOENT:
		return errno(err)
	}
	dir, _ := splitPath(p)
	if e := r.ensureDirPath(ti, dir); e != 0 {
		return e
	}
	from, e := r.visibleDir(p, ti, &st)
	if e != 0 {
		return e
	}
	if err := t.Mkdir(p, st.Mode&07777, nil); err != nil && err != unix.EEXIST {
		return errno(err)
	}
	if err := t.Chown(p, int(st.Uid), int(st.Gid)); err != nil {
		return errno(err)
	}
	if err := t.Chmod(p, st.Mode&07777); err != nil {
		return errno(err)
	}
	r.replicateDir(from, ti, p)
	return 0
}

// visibleDir stats the copy of directory p that the mount shows, looking
// on every tier but skip, and returns its tier.
func (r *Root) visibleDir(p string, skip int, st *unix.Stat_t) (int, syscall.Errno) {
	for _, ti := range r.placement().Order(p) {
		if ti == skip {
			continue
		}
		err := r.tiers[ti].Lstat(p, st)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return ti, 0
		}
		if err != nil && !missing(err) && !r.downForeign(p, ti) {
			return -1, errno(err)
		}
	}
	return -1, syscall.ENOENT
}

func splitPath(p string) (dir, base string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i], p[i+1:]
		}
	}
	return "", p
}
