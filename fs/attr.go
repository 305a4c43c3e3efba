package fs

import (
	"cmp"
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fillAttr copies a backend stat into a FUSE attribute.
func fillAttr(a *fuse.Attr, st *unix.Stat_t) {
	a.Ino = st.Ino
	a.Size = uint64(st.Size)
	a.Blocks = uint64(st.Blocks)
	a.Atime, a.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	a.Mtime, a.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	a.Ctime, a.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
	a.Mode = st.Mode
	a.Nlink = uint32(st.Nlink)
	a.Uid, a.Gid = st.Uid, st.Gid
	a.Rdev = uint32(st.Rdev)
	a.Blksize = uint32(st.Blksize)
}

// later reports whether timestamp a is after b.
func later(a, b unix.Timespec) bool {
	return a.Sec > b.Sec || (a.Sec == b.Sec && a.Nsec > b.Nsec)
}

// mergeDirStat folds another tier's copy of a directory into st: the
// directory shows the newest mtime and ctime of its copies, because
// Dovecot's maildir sync compares directory mtimes, and counts the
// subdirectories of every copy in st_nlink (2 + Σ(nlink_i − 2)), because
// Dovecot's \NoChildren and find's leaf optimisation read st_nlink == 2
// as "no subdirectories". A subdirectory on several tiers is counted
// once per tier: too many is safe, too few is not.
func mergeDirStat(st, other *unix.Stat_t) {
	switch {
	case st.Nlink < 2 || other.Nlink < 2:
		// A copy on a filesystem that does not count subdirectories
		// (btrfs shows 1): 1 tells find the count is unknown.
		st.Nlink = 1
	default:
		st.Nlink += other.Nlink - 2
	}
	if later(other.Mtim, st.Mtim) {
		st.Mtim = other.Mtim
	}
	if later(other.Ctim, st.Ctim) {
		st.Ctim = other.Ctim
	}
	if later(other.Atim, st.Atim) {
		st.Atim = other.Atim
	}
}

// dirStat stats a directory on every tier that holds it, in priority
// order; the first copy gives owner and mode, the newest gives times,
// all of them the link count. A copy on a tier that is down is left out
// while another answers: the directory is known to exist (its node
// records its copies), its mode and owner are the same everywhere, and
// every path below it would otherwise fail with the permission check
// (default_permissions) instead of only the names on the lost tier.
func (n *node) dirStat(p string, st *unix.Stat_t) syscall.Errno {
	n.learnShared()
	return n.statCopies(p, n.dirs.Load(), st, func(ti int, s *unix.Stat_t) error {
		return n.r.tiers[ti].Lstat(p, s)
	})
}

// statCopies merges the stats of a directory's copies on the tiers of
// mask, taken by stat, in the rule order of the directory's path p, as
// dirStat says. A copy rmdir removed (no links, seen through an open
// descriptor) gives way to one that was not, so that a directory whose
// copies are all removed shows no links, as natively.
func (n *node) statCopies(p string, mask uint64, st *unix.Stat_t, stat func(ti int, st *unix.Stat_t) error) syscall.Errno {
	found := false
	var down syscall.Errno
	for _, ti := range n.r.placement().Order(p) {
		if mask&bit(ti) == 0 {
			continue
		}
		var s unix.Stat_t
		err := stat(ti, &s)
		if missing(err) {
			continue
		}
		if err != nil && !n.r.tiers[ti].Up() {
			down = errno(err) // the other copies answer; see dirStat
			continue
		}
		if err != nil {
			return errno(err)
		}
		switch {
		case !found:
			*st, found = s, true
		case st.Nlink == 0 && s.Nlink != 0:
			*st = s
		case s.Nlink != 0:
			mergeDirStat(st, &s)
		}
	}
	if !found {
		return cmp.Or(down, syscall.ENOENT)
	}
	return 0
}

// stat stats the node on the tier(s) holding it.
func (n *node) stat(p string, st *unix.Stat_t) syscall.Errno {
	if n.IsDir() {
		return n.dirStat(p, st)
	}
	return errno(n.tierOf().Lstat(p, st))
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if e := n.leased(ctx); e != 0 {
		return e
	}
	n.touch()
	var e syscall.Errno
	if fg, ok := f.(gofs.FileGetattrer); ok {
		e = fg.Getattr(ctx, out)
	} else {
		e = n.statAttr(&out.Attr)
	}
	if e == 0 && n.shared() {
		out.SetTimeout(n.r.sharedTTL)
	}
	return e
}

// statAttr fills a with the attributes of n's data.
func (n *node) statAttr(a *fuse.Attr) syscall.Errno {
	var st unix.Stat_t
	if e := n.statData(&st); e != 0 {
		return e
	}
	fillAttr(a, &st)
	n.hideKept(a, 0)
	return 0
}

// statData stats the node's data. A rename may replace the node's name
// while this runs; the node then has a kept link, so try that.
func (n *node) statData(st *unix.Stat_t) syscall.Errno {
	p, e := n.dataPath()
	if e == syscall.ESTALE {
		if last := n.removed.Load(); last != nil {
			*st = *last
			return 0
		}
	}
	if e != 0 {
		return e
	}
	e = n.stat(p, st)
	if e == syscall.ENOENT {
		if kp := n.kept.Load(); kp != nil && *kp != p {
			e = n.stat(*kp, st)
		}
	}
	return e
}

// Setattr changes the node and answers its new attributes with the
// node's inode number and the mount's attribute timeout: go-fuse passes
// a SETATTR reply through as it is, and a zero timeout would make the
// kernel ask again (GETATTR) at the next stat.
func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := n.leased(ctx); e != 0 {
		return e
	}
	e := n.setattr(ctx, f, in, out)
	if e == 0 {
		out.Ino = n.StableAttr().Ino
		ttl := n.r.attrTimeout
		if n.shared() {
			ttl = n.r.sharedTTL
		}
		out.SetTimeout(ttl)
	}
	return e
}

func (n *node) setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if fs, ok := f.(gofs.FileSetattrer); ok && !n.IsDir() {
		// An open file is never moved: no move to interrupt.
		defer n.forgetSelf()
		if e := fs.Setattr(ctx, in, out); e != 0 {
			return e
		}
		return n.Getattr(ctx, f, out)
	}
	// fchmod and futimens come without a handle: a file whose name a
	// rename replaced is reached through its kept link.
	p, e := n.dataPath()
	if e != 0 {
		return e
	}
	n.r.moves.interrupt(p)
	defer n.forgetSelf()
	for _, ti := range n.holders() {
		if e := setattrOn(n.r.tiers[ti], p, in); e != 0 {
			return e
		}
	}
	return n.Getattr(ctx, nil, out)
}

// holders lists the tiers a setattr must change: every copy of a
// directory, or the one tier of a file.
func (n *node) holders() []int {
	if !n.IsDir() {
		return []int{int(n.tier.Load())}
	}
	n.learnShared() // a copy another host made is changed too
	var out []int
	mask := n.dirs.Load()
	for ti := range n.r.tiers {
		if mask&bit(ti) != 0 {
			out = append(out, ti)
		}
	}
	return out
}

// backend is the subset of tier calls setattr needs.
type backend interface {
	Chown(rel string, uid, gid int) error
	Chmod(rel string, mode uint32) error
	Truncate(rel string, size int64) error
	Utimens(rel string, ts []unix.Timespec) error
}

// setattrOn applies a SETATTR to one backing copy: owner before mode
// (chown clears set-id bits), size before times (truncate sets mtime).
func setattrOn(t backend, p string, in *fuse.SetAttrIn) syscall.Errno {
	if in.Valid&(fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		uid, gid := -1, -1
		if in.Valid&fuse.FATTR_UID != 0 {
			uid = int(in.Uid)
		}
		if in.Valid&fuse.FATTR_GID != 0 {
			gid = int(in.Gid)
		}
		if err := t.Chown(p, uid, gid); err != nil {
			return errno(err)
		}
	}
	if in.Valid&fuse.FATTR_MODE != 0 {
		if err := t.Chmod(p, in.Mode&07777); err != nil {
			return errno(err)
		}
	}
	if in.Valid&fuse.FATTR_SIZE != 0 {
		if err := t.Truncate(p, int64(in.Size)); err != nil {
			return errno(err)
		}
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
		if err := t.Utimens(p, timesOf(in)); err != nil {
			return errno(err)
		}
	}
	return 0
}

// timesOf turns SETATTR time fields into utimensat's pair.
func timesOf(in *fuse.SetAttrIn) []unix.Timespec {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	switch {
	case in.Valid&fuse.FATTR_ATIME_NOW != 0:
		ts[0].Nsec = unix.UTIME_NOW
	case in.Valid&fuse.FATTR_ATIME != 0:
		ts[0] = unix.Timespec{Sec: int64(in.Atime), Nsec: int64(in.Atimensec)}
	}
	switch {
	case in.Valid&fuse.FATTR_MTIME_NOW != 0:
		ts[1].Nsec = unix.UTIME_NOW
	case in.Valid&fuse.FATTR_MTIME != 0:
		ts[1] = unix.Timespec{Sec: int64(in.Mtime), Nsec: int64(in.Mtimensec)}
	}
	return ts
}
