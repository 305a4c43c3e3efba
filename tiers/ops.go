package tiers

import (
	"golang.org/x/sys/unix"
)

// Lstat stats rel without following a final symlink.
func (t *Tier) Lstat(rel string, st *unix.Stat_t) error {
	if rel == "" {
		if err := t.check(); err != nil {
			return err
		}
		return unix.Fstat(t.root, st)
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Open opens (or with O_CREAT creates, as c) the file rel. A final
// symlink is never followed: the kernel resolves symlinks before it asks.
func (t *Tier) Open(rel string, flags int, mode uint32, c *Cred) (int, error) {
	fd := -1
	err := asCaller(c, func() error {
		var err error
		fd, err = t.openBeneath(rel, flags|unix.O_NOFOLLOW, mode&07777)
		return err
	})
	return fd, err
}

// OpenDir opens the directory rel for reading or fsync.
func (t *Tier) OpenDir(rel string) (int, error) {
	return t.openBeneath(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
}

// Mkdir creates the directory rel as c.
func (t *Tier) Mkdir(rel string, mode uint32, c *Cred) error {
	return t.atParent(rel, func(dirfd int, name string) error {
		return asCaller(c, func() error { return unix.Mkdirat(dirfd, name, mode) })
	})
}

// Mknod creates a special file rel as c.
func (t *Tier) Mknod(rel string, mode, dev uint32, c *Cred) error {
	return t.atParent(rel, func(dirfd int, name string) error {
		return asCaller(c, func() error { return unix.Mknodat(dirfd, name, mode, int(dev)) })
	})
}

// Symlink creates rel pointing at target, as c.
func (t *Tier) Symlink(target, rel string, c *Cred) error {
	return t.atParent(rel, func(dirfd int, name string) error {
		return asCaller(c, func() error { return unix.Symlinkat(target, dirfd, name) })
	})
}

// Readlink returns the target of the symlink rel.
func (t *Tier) Readlink(rel string) (string, error) {
	var target string
	err := t.atParent(rel, func(dirfd int, name string) error {
		buf := make([]byte, 256)
		for {
			n, err := unix.Readlinkat(dirfd, name, buf)
			if err != nil {
				return err
			}
			if n < len(buf) {
				target = string(buf[:n])
				return nil
			}
			buf = make([]byte, 2*len(buf))
		}
	})
	return target, err
}

// Unlink removes the non-directory rel.
func (t *Tier) Unlink(rel string) error {
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, 0)
	})
}

// Rmdir removes the empty directory rel.
func (t *Tier) Rmdir(rel string) error {
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	})
}

// Rename renames oldRel to newRel within the tier, atomically replacing
// newRel unless flags say otherwise (renameat2 flags).
func (t *Tier) Rename(oldRel, newRel string, flags uint) error {
	return t.atParent(oldRel, func(olddir int, oldName string) error {
		return t.atParent(newRel, func(newdir int, newName string) error {
			return unix.Renameat2(olddir, oldName, newdir, newName, flags)
		})
	})
}

// Link makes newRel another name of oldRel.
func (t *Tier) Link(oldRel, newRel string) error {
	return t.atParent(oldRel, func(olddir int, oldName string) error {
		return t.atParent(newRel, func(newdir int, newName string) error {
			return unix.Linkat(olddir, oldName, newdir, newName, 0)
		})
	})
}

// Chmod changes the mode of rel; on a symlink it fails with EOPNOTSUPP
// rather than follow it out of the tier.
func (t *Tier) Chmod(rel string, mode uint32) error {
	if rel == "" {
		return t.withRootPath(func(p string) error { return unix.Fchmodat(unix.AT_FDCWD, p, mode, 0) })
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Chown changes owner and group of rel (-1 keeps one).
func (t *Tier) Chown(rel string, uid, gid int) error {
	if rel == "" {
		if err := t.check(); err != nil {
			return err
		}
		return unix.Fchownat(t.root, "", uid, gid, unix.AT_EMPTY_PATH)
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Utimens sets access and modification times of rel (UTIME_OMIT and
// UTIME_NOW allowed).
func (t *Tier) Utimens(rel string, ts []unix.Timespec) error {
	if rel == "" {
		return t.withRootPath(func(p string) error { return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0) })
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Truncate sets the size of the regular file rel.
func (t *Tier) Truncate(rel string, size int64) error {
	fd, err := t.openBeneath(rel, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Ftruncate(fd, size)
}

// FsyncDir flushes the directory rel itself to stable storage.
func (t *Tier) FsyncDir(rel string) error {
	fd, err := t.OpenDir(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// Statfs reports the filesystem of the tier.
func (t *Tier) Statfs(st *unix.Statfs_t) error {
	if err := t.check(); err != nil {
		return err
	}
	return unix.Fstatfs(t.root, st)
}

// withRootPath runs fn with a /proc path naming the tier root, for the
// few calls that have no *at form taking an O_PATH descriptor.
func (t *Tier) withRootPath(fn func(p string) error) error {
	if err := t.check(); err != nil {
		return err
	}
	return fn(procFdPath(t.root))
}
