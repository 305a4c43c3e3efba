package tiers

import (
	"time"

	"golang.org/x/sys/unix"
)

// Lstat stats rel without following a final symlink.
func (t *Tier) Lstat(rel string, st *unix.Stat_t) (err error) {
	defer t.observe("lstat", time.Now(), &err)
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
func (t *Tier) Open(rel string, flags int, mode uint32, c *Cred) (_ int, err error) {
	defer t.observe("open", time.Now(), &err)
	fd := -1
	err = asCaller(c, func() error {
		var err error
		fd, err = t.openBeneath(rel, flags|unix.O_NOFOLLOW, mode&07777)
		return err
	})
	return fd, err
}

// OpenDir opens the directory rel for reading or fsync.
func (t *Tier) OpenDir(rel string) (_ int, err error) {
	defer t.observe("opendir", time.Now(), &err)
	return t.openBeneath(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
}

// Mkdir creates the directory rel as c.
func (t *Tier) Mkdir(rel string, mode uint32, c *Cred) (err error) {
	defer t.observe("mkdir", time.Now(), &err)
	return t.atParent(rel, func(dirfd int, name string) error {
		return asCaller(c, func() error { return unix.Mkdirat(dirfd, name, mode) })
	})
}

// Mknod creates a special file rel as c.
func (t *Tier) Mknod(rel string, mode, dev uint32, c *Cred) (err error) {
	defer t.observe("mknod", time.Now(), &err)
	return t.atParent(rel, func(dirfd int, name string) error {
		return asCaller(c, func() error { return unix.Mknodat(dirfd, name, mode, int(dev)) })
	})
}

// Symlink creates rel pointing at target, as c.
func (t *Tier) Symlink(target, rel string, c *Cred) (err error) {
	defer t.observe("symlink", time.Now(), &err)
	return t.atParent(rel, func(dirfd int, name string) error {
		return asCaller(c, func() error { return unix.Symlinkat(target, dirfd, name) })
	})
}

// Readlink returns the target of the symlink rel.
func (t *Tier) Readlink(rel string) (_ string, err error) {
	defer t.observe("readlink", time.Now(), &err)
	var target string
	err = t.atParent(rel, func(dirfd int, name string) error {
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
func (t *Tier) Unlink(rel string) (err error) {
	defer t.observe("unlink", time.Now(), &err)
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, 0)
	})
}

// Rmdir removes the empty directory rel.
func (t *Tier) Rmdir(rel string) (err error) {
	defer t.observe("rmdir", time.Now(), &err)
	err = t.atParent(rel, func(dirfd int, name string) error {
		return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	})
	if err == nil {
		t.dirs.changed(rel)
	}
	return err
}

// Rename renames oldRel to newRel within the tier, atomically replacing
// newRel unless flags say otherwise (renameat2 flags).
func (t *Tier) Rename(oldRel, newRel string, flags uint) (err error) {
	defer t.observe("rename", time.Now(), &err)
	err = t.atParent(oldRel, func(olddir int, oldName string) error {
		return t.atParent(newRel, func(newdir int, newName string) error {
			return unix.Renameat2(olddir, oldName, newdir, newName, flags)
		})
	})
	if err == nil {
		t.dirs.changed(oldRel, newRel)
	}
	return err
}

// Link makes newRel another name of oldRel.
func (t *Tier) Link(oldRel, newRel string) (err error) {
	defer t.observe("link", time.Now(), &err)
	return t.atParent(oldRel, func(olddir int, oldName string) error {
		return t.atParent(newRel, func(newdir int, newName string) error {
			return unix.Linkat(olddir, oldName, newdir, newName, 0)
		})
	})
}

// Chmod changes the mode of rel; on a symlink it fails with EOPNOTSUPP
// rather than follow it out of the tier.
func (t *Tier) Chmod(rel string, mode uint32) (err error) {
	defer t.observe("chmod", time.Now(), &err)
	if rel == "" {
		return t.withRootPath(func(p string) error { return unix.Fchmodat(unix.AT_FDCWD, p, mode, 0) })
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Chown changes owner and group of rel (-1 keeps one).
func (t *Tier) Chown(rel string, uid, gid int) (err error) {
	defer t.observe("chown", time.Now(), &err)
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
func (t *Tier) Utimens(rel string, ts []unix.Timespec) (err error) {
	defer t.observe("utimens", time.Now(), &err)
	if rel == "" {
		return t.withRootPath(func(p string) error { return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0) })
	}
	return t.atParent(rel, func(dirfd int, name string) error {
		return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Truncate sets the size of the regular file rel.
func (t *Tier) Truncate(rel string, size int64) (err error) {
	defer t.observe("truncate", time.Now(), &err)
	fd, err := t.openBeneath(rel, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Ftruncate(fd, size)
}

// FsyncDir flushes the directory rel itself to stable storage.
func (t *Tier) FsyncDir(rel string) (err error) {
	defer t.observe("fsyncdir", time.Now(), &err)
	fd, err := t.OpenDir(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// FsyncDirFd flushes the directory open as fd (from OpenDir).
func (t *Tier) FsyncDirFd(fd int) (err error) {
	defer t.observe("fsyncdir", time.Now(), &err)
	if err := t.check(); err != nil {
		return err
	}
	return unix.Fsync(fd)
}

// Fstat stats the descriptor fd, opened on the tier.
func (t *Tier) Fstat(fd int, st *unix.Stat_t) (err error) {
	defer t.observe("fstat", time.Now(), &err)
	if err := t.check(); err != nil {
		return err
	}
	return unix.Fstat(fd, st)
}

// Statfs reports the filesystem of the tier.
func (t *Tier) Statfs(st *unix.Statfs_t) (err error) {
	defer t.observe("statfs", time.Now(), &err)
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
