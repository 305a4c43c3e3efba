package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// dirHandle is an open directory. It lists the directory's copies when
// the first entry is read and again after a rewind, so that rewinddir
// sees the names added since opendir, as POSIX asks: a shared
// directory's through the descriptors it holds (dir_copies.go), any
// other's by its path.
type dirHandle struct {
	n      *node
	l      *listing
	idx    int        // next entry; entry i has offset i+1
	copies *dirCopies // a shared directory's copies, held open; else nil
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileLookuper     = (*dirHandle)(nil)
	_ gofs.FileFsyncdirer   = (*dirHandle)(nil)
	_ gofs.FileReleasedirer = (*dirHandle)(nil)
	_ gofs.FileGetattrer    = (*dirHandle)(nil)
)

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if e := n.leased(ctx); e != 0 {
		return nil, 0, e
	}
	h := &dirHandle{n: n}
	if n.shared() {
		c, e := n.openCopies()
		if e != 0 {
			return nil, 0, e
		}
		h.copies = c
	}
	n.addUserOpens(1) // an open directory keeps its user's lease
	return h, 0, 0
}

// Releasedir uncounts the open directory.
func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	if h.copies != nil {
		h.copies.close()
	}
	h.n.addUserOpens(-1)
}

// Readdirent returns the next entry. go-fuse serialises the calls on
// one handle.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if e := h.n.leased(ctx); e != 0 {
		return nil, e
	}
	if h.l == nil {
		l, e := h.list()
		if e != 0 {
			return nil, e
		}
		h.l = l
	}
	if h.idx >= len(h.l.ents) {
		return nil, 0
	}
	d := h.l.ents[h.idx]
	h.idx++
	d.Off = uint64(h.idx)
	return &d, 0
}

// list lists the directory: a shared one through its open copies.
func (h *dirHandle) list() (*listing, syscall.Errno) {
	if h.copies == nil {
		return h.n.list()
	}
	s, e := h.copies.current(h.n)
	if e != 0 {
		return nil, e
	}
	return s.list(h.n)
}

// Seekdir moves to offset off; offset 0 lists the directory anew.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		h.l, h.idx = nil, 0
		return 0
	}
	if h.l == nil || off > uint64(len(h.l.ents)) {
		return syscall.EINVAL
	}
	h.idx = int(off)
	return 0
}

// Lookup gives READDIRPLUS the attributes of the entry just listed.
//
// Entries on an nfs tier go without (go-fuse then answers node ID 0,
// and the kernel treats them as plain READDIR entries): each would cost
// a network round trip (and a node) for a reader that may never stat
// it — Dovecot's maildir scan reads names only — and a reader that does
// stat one pays one LOOKUP for it.
//
// An entry the kernel already holds, as it does every file created or
// renamed through the mount, is answered as a GETATTR of its node would
// be: one stat on the tier the node knows, not a lookup across the
// tiers. Dovecot lists a maildir's new/ and cur/ after delivering into
// them, and stats what it lists. A node the kernel is forgetting at that
// moment (drop_caches, memory pressure) may already be out of go-fuse's
// tree, and its stat fails with ESTALE: the full lookup answers for it
// instead, or the kernel would get no entry and ask again with a LOOKUP.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if h.n.shared() {
		// Another host may change the entry (shared.go), or it is a
		// user's directory, looked up (and leased) when used.
		return nil, syscall.EAGAIN
	}
	if i := h.idx - 1; i >= 0 && h.l.ents[i].Name == name {
		if ti := h.l.tiers[i]; ti >= 0 && h.n.r.tiers[ti].Kind == tiers.KindNFS {
			return nil, syscall.EAGAIN
		}
		if ch := h.n.GetChild(name); ch != nil {
			if cn, ok := ch.Operations().(*node); ok {
				cn.touch()
				h.n.r.crashAt("readdirplus-known", "name", name)
				if cn.statAttr(&out.Attr) == 0 {
					return ch, 0
				}
			}
		}
	}
	return h.n.Lookup(ctx, name, out)
}

// Fsyncdir flushes every copy of the directory.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if h.copies == nil {
		return h.n.Fsync(ctx, nil, flags)
	}
	s, e := h.copies.current(h.n)
	if e != 0 {
		return e
	}
	return s.fsync(h.n)
}

// Getattr answers fstat of the directory, and any other GETATTR of its
// node while it is open: the kernel passes no handle with a directory's,
// and go-fuse then passes the node's first open one (node.Getattr). A
// shared directory answers from its open copies, leaving out one it
// learned of but cannot open, as dirStat leaves out one on a down tier.
func (h *dirHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if h.copies == nil {
		return h.n.statAttr(&out.Attr)
	}
	s, _ := h.copies.current(h.n)
	var st unix.Stat_t
	if e := s.stat(h.n, &st); e != 0 {
		return e
	}
	fillAttr(&out.Attr, &st)
	return 0
}
