package tiers

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// OwnXattrPrefix begins the extended attributes tierfs keeps on tier
// files for itself (a moved file's inode number). The mount hides them,
// and a copy between tiers sets them afresh rather than copying them.
const OwnXattrPrefix = "trusted.tierfs."

// procFdPath names an open descriptor through /proc, so that the
// path-based xattr calls can act on what an O_PATH descriptor holds.
func procFdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// atXattrPath runs fn with a /proc path of rel that does not follow a
// final symlink: the parent is resolved beneath the root, the name is
// looked up in it by the l*xattr call itself.
func (t *Tier) atXattrPath(rel string, fn func(p string) error) error {
	if rel == "" {
		return t.withRootPath(fn)
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return fn(procFdPath(dirfd) + "/" + name)
	})
}

// Getxattr reads attribute attr of rel into dest (size query when dest is empty).
func (t *Tier) Getxattr(rel, attr string, dest []byte) (_ int, err error) {
	defer t.observe("getxattr", time.Now(), &err)
	var n int
	if rel != "" && !t.noXattrat.Load() {
		err = t.atParent(rel, func(dirfd int, name string) error {
			var err error
			n, err = getxattrat(dirfd, name, attr, dest)
			return err
		})
		if err != unix.ENOSYS && err != unix.EPERM {
			return n, err
		}
		// An older kernel, or a seccomp filter that refuses the call
		// with EPERM: ask again through /proc.
		if err == unix.ENOSYS {
			t.noXattrat.Store(true)
		}
	}
	err = t.atXattrPath(rel, func(p string) error {
		var err error
		n, err = unix.Lgetxattr(p, attr, dest)
		return err
	})
	return n, err
}

// Setxattr sets attribute attr of rel.
func (t *Tier) Setxattr(rel, attr string, data []byte, flags int) (err error) {
	defer t.observe("setxattr", time.Now(), &err)
	return t.atXattrPath(rel, func(p string) error { return unix.Lsetxattr(p, attr, data, flags) })
}

// Removexattr removes attribute attr of rel.
func (t *Tier) Removexattr(rel, attr string) (err error) {
	defer t.observe("removexattr", time.Now(), &err)
	return t.atXattrPath(rel, func(p string) error { return unix.Lremovexattr(p, attr) })
}

// Listxattr lists the attribute names of rel into dest.
func (t *Tier) Listxattr(rel string, dest []byte) (_ int, err error) {
	defer t.observe("listxattr", time.Now(), &err)
	var n int
	err = t.atXattrPath(rel, func(p string) error {
		var err error
		n, err = unix.Llistxattr(p, dest)
		return err
	})
	return n, err
}
