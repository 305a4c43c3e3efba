package tiers

import (
	"time"

	"golang.org/x/sys/unix"
)

// LstatGen stats rel like Lstat and also returns a generation that tells
// apart two files that had the same inode number one after the other
// (tmpfs and ext4 reuse numbers at once): the birth time, or 0 where the
// filesystem does not record it.
func (t *Tier) LstatGen(rel string, st *unix.Stat_t) (gen uint64, err error) {
	defer t.observe("lstat", time.Now(), &err)
	if rel == "" {
		if err := t.check(); err != nil {
			return 0, err
		}
		return statxGen(t.root, "", unix.AT_EMPTY_PATH, st)
	}
	err = t.atParent(rel, func(dirfd int, name string) error {
		var err error
		gen, err = statxGen(dirfd, name, unix.AT_SYMLINK_NOFOLLOW, st)
		return err
	})
	return gen, err
}

// FstatGen is LstatGen for an open descriptor.
func FstatGen(fd int, st *unix.Stat_t) (uint64, error) {
	return statxGen(fd, "", unix.AT_EMPTY_PATH, st)
}

func statxGen(dirfd int, name string, flags int, st *unix.Stat_t) (uint64, error) {
	var sx unix.Statx_t
	if err := unix.Statx(dirfd, name, flags|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx); err != nil {
		return 0, err
	}
	*st = unix.Stat_t{
		Dev:    unix.Mkdev(sx.Dev_major, sx.Dev_minor),
		Ino:    sx.Ino,
		Mode:   uint32(sx.Mode),
		Uid:    sx.Uid,
		Gid:    sx.Gid,
		Rdev:   unix.Mkdev(sx.Rdev_major, sx.Rdev_minor),
		Size:   int64(sx.Size),
		Blocks: int64(sx.Blocks),
		Atim:   unix.Timespec{Sec: sx.Atime.Sec, Nsec: int64(sx.Atime.Nsec)},
		Mtim:   unix.Timespec{Sec: sx.Mtime.Sec, Nsec: int64(sx.Mtime.Nsec)},
		Ctim:   unix.Timespec{Sec: sx.Ctime.Sec, Nsec: int64(sx.Ctime.Nsec)},
	}
	setInt(&st.Nlink, sx.Nlink)
	setInt(&st.Blksize, sx.Blksize)
	if sx.Mask&unix.STATX_BTIME == 0 {
		return 0, nil
	}
	return uint64(sx.Btime.Sec)*1e9 + uint64(sx.Btime.Nsec), nil
}

// setInt stores v in a Stat_t field whose width differs between
// platforms (Nlink and Blksize are 64 bits on amd64, 32 on arm64).
func setInt[T ~uint32 | ~uint64 | ~int32 | ~int64](dst *T, v uint32) { *dst = T(v) }
