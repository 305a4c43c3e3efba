package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// openFlagsMask drops flags the backing open must not see: the kernel
// computes append offsets itself (and F_SETFL may toggle O_APPEND later),
// and creation was already decided.
const openFlagsMask = ^uint32(unix.O_APPEND | fuse.FMODE_EXEC | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY)

// fuseOpenFlags are the per-open flags for a file on tier t. A close on
// a local tier has nothing to report, so skip the FLUSH round trip; on
// NFS, close is where write errors surface.
func fuseOpenFlags(t *tiers.Tier) uint32 {
	if t.Kind == tiers.KindNFS {
		return 0
	}
	return fuse.FOPEN_NOFLUSH
}

// placeChild makes new child p of n with mk on the tier placement picks
// (see placeNew), after making n exist there. A create that fails for
// want of space or quota tries once more on an overflow tier (see
// retryTier). It returns the tier tried last and whether that is the
// rule's demote_to tier taking the child for want of space on its own.
func (n *node) placeChild(p string, mk func(ti int) syscall.Errno) (int, bool, syscall.Errno) {
	ti, home, demote := n.r.placeNew(p)
	e := n.makeOn(ti, mk)
	if noSpace(e) {
		if alt := n.r.retryTier(p, ti); alt >= 0 {
			n.r.space.retries.Add(1)
			n.r.crashAt("create-before-retry", "path", p)
			ti, e = alt, n.makeOn(alt, mk)
			n.r.crashAt("create-after-retry", "path", p)
		}
	}
	if e == 0 {
		n.r.countPlaced(home, ti)
	}
	return ti, ti != home && ti == demote, e
}

// makeOn runs mk on tier ti once n exists there.
func (n *node) makeOn(ti int, mk func(ti int) syscall.Errno) syscall.Errno {
	if err := n.r.tiers[ti].Attached(); err != nil {
		return errno(err) // never create on the directory beneath a vanished tier
	}
	if e := n.ensureOn(ti); e != 0 {
		return e
	}
	return mk(ti)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if e := n.leasedChild(ctx, name); e != 0 {
		return nil, nil, 0, e
	}
	if n.hidden(name) {
		return nil, nil, 0, syscall.EPERM
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil, nil, 0, e
	}
	var fd int
	ti, spilled, e := n.placeChild(p, func(ti int) syscall.Errno {
		var err error
		fd, err = n.r.tiers[ti].Open(p, int(flags&openFlagsMask)|unix.O_CREAT|int(flags&unix.O_EXCL), mode, cred(ctx))
		return errno(err)
	})
	n.forget(name) // even on failure: see makeChild
	if e != 0 {
		return nil, nil, 0, e
	}
	t := n.r.tiers[ti]
	var st unix.Stat_t
	gen, err := tiers.FstatGen(fd, &st)
	if err != nil {
		unix.Close(fd)
		return nil, nil, 0, errno(err)
	}
	fillAttr(&out.Attr, &st)
	sino, sgen := ino(ti, st.Ino), gen // made here, so not a moved file
	if flags&unix.O_EXCL == 0 {
		sino, sgen = n.r.fileID(ti, p, &st, gen) // perhaps opened an existing one
	}
	// Without O_EXCL the file may have been there (an old one); a new
	// one is empty.
	n.r.noteSpilled(ti, spilled && (flags&unix.O_EXCL != 0 || st.Size == 0), &st, gen)
	ch := n.newChild(ctx, name, ti, &st, sino, sgen, 0)
	cn := ch.Operations().(*node)
	cn.hideKeptNew(&out.Attr, 1) // an existing file opened with O_CREAT
	u := n.user                  // the lease leasedChild took, unless the file is a user's directory
	if u == nil {
		u = cn.user
	}
	cn.addOpens(1, u)
	h := newHandle(fd, cn, t, u)
	if flags&(unix.O_WRONLY|unix.O_RDWR|unix.O_TRUNC) != 0 {
		h.writes = true
		cn.writers.Add(1)
	}
	if cn.shared() {
		n.r.sharedEntry(out)
	}
	return ch, h, fuseOpenFlags(t), 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	u, e := n.leaseUser(ctx)
	if e != 0 {
		return nil, 0, e
	}
	p, e := n.dataPath()
	if e != 0 {
		return nil, 0, e
	}
	// Count the open before looking at the tier: a move either sees it
	// and gives up, or has finished switching the node when we look.
	n.addOpens(1, u)
	n.touch()
	n.r.moves.interrupt(p)
	t := n.tierOf()
	fd, err := t.Open(p, int(flags&openFlagsMask), 0, nil)
	if err == unix.ENOENT {
		// Replaced by a rename while we opened: its kept link remains.
		if kp := n.kept.Load(); kp != nil && *kp != p {
			fd, err = t.Open(*kp, int(flags&openFlagsMask), 0, nil)
		}
	}
	if err != nil {
		n.addOpens(-1, u)
		return nil, 0, errno(err)
	}
	h := newHandle(fd, n, t, u)
	if flags&(unix.O_WRONLY|unix.O_RDWR|unix.O_TRUNC) != 0 {
		h.writes = true
		n.writers.Add(1) // before forgetting: see lookupCached
		n.forgetSelf()
	}
	return h, fuseOpenFlags(t), 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeChild(ctx, name, out, func(t *tiers.Tier, p string) error {
		return t.Mkdir(p, mode, cred(ctx))
	})
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeChild(ctx, name, out, func(t *tiers.Tier, p string) error {
		return t.Mknod(p, mode, dev, cred(ctx))
	})
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeChild(ctx, name, out, func(t *tiers.Tier, p string) error {
		return t.Symlink(target, p, cred(ctx))
	})
}

// makeChild creates a child with mk on the tier placeChild picks and
// returns its node.
func (n *node) makeChild(ctx context.Context, name string, out *fuse.EntryOut, mk func(t *tiers.Tier, p string) error) (*gofs.Inode, syscall.Errno) {
	if e := n.leasedChild(ctx, name); e != 0 {
		return nil, e
	}
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	ti, spilled, e := n.placeChild(p, func(ti int) syscall.Errno { return errno(mk(n.r.tiers[ti], p)) })
	// Even on failure: the name may exist all the same (EEXIST from a
	// retransmitted NFS request whose first one made it, or a reply
	// lost), and the name index must not lack it.
	n.forget(name)
	if e != 0 {
		return nil, e
	}
	t := n.r.tiers[ti]
	var st unix.Stat_t
	gen, err := t.LstatGen(p, &st)
	if err != nil {
		return nil, errno(err)
	}
	fillAttr(&out.Attr, &st)
	n.r.noteSpilled(ti, spilled, &st, gen) // a regular file made by mknod
	var dirs uint64
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		dirs = bit(ti)
	}
	if n.sharedChild(name) {
		n.r.sharedEntry(out)
	}
	return n.newChild(ctx, name, ti, &st, ino(ti, st.Ino), gen, dirs), 0 // new: never moved
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if e := n.leased(ctx); e != 0 {
		return nil, e
	}
	p, e := n.relPath()
	if e != 0 {
		return nil, e
	}
	target, err := n.tierOf().Readlink(p)
	return []byte(target), errno(err)
}

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if e := n.leasedChild(ctx, name); e != 0 {
		return nil, e
	}
	if src, ok := target.(*node); ok {
		if e := src.leased(ctx); e != 0 {
			return nil, e
		}
	}
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	src, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	from, e := src.relPath()
	if e != 0 {
		return nil, e
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	// A hard link is made beside its source: the data never moves.
	n.r.moves.interrupt(from)
	ti := int(src.tier.Load())
	if e := n.ensureOn(ti); e != 0 {
		return nil, e
	}
	t := n.r.tiers[ti]
	if n.r.staleBegin(from, p, bit(ti)) {
		defer n.r.staleEnd()
	}
	err := t.Link(from, p)
	n.forget(name) // even on failure: see makeChild
	if err != nil {
		return nil, errno(err)
	}
	src.forgetSelf() // its link count changed
	var st unix.Stat_t
	gen, err := t.LstatGen(p, &st)
	if err != nil {
		return nil, errno(err)
	}
	fillAttr(&out.Attr, &st)
	src.hideKept(&out.Attr, 2) // the source's name and this one
	if n.sharedChild(name) {
		n.r.sharedEntry(out)
	}
	id := src.StableAttr() // the same inode, so the same number
	_, sgen := n.r.fileID(ti, p, &st, gen)
	if id.Gen == sgen && id.Mode == st.Mode&unix.S_IFMT {
		n.reachLinked(id)
		return src.again(ti, &st, 0), 0 // go-fuse links the node it holds
	}
	return n.newChild(ctx, name, ti, &st, id.Ino, sgen, 0), 0
}
