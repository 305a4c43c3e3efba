package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/tiers"
)

// handle is an open file. The embedded loopback handle implements every
// file operation and offers its descriptor for FUSE passthrough, so
// reads, writes and mmap run in the kernel at native speed; where the
// kernel refuses passthrough, go-fuse falls back to the same handle.
// The node counts its handles: the mover never moves an open file.
type handle struct {
	*gofs.LoopbackFile
	n      *node
	t      *tiers.Tier // the tier the descriptor is on
	user   *userLease  // the lease the open counts for (node.addOpens)
	writes bool        // opened for writing: cached stats of the file go stale
}

func newHandle(fd int, n *node, t *tiers.Tier, user *userLease) *handle {
	return &handle{LoopbackFile: gofs.NewLoopbackFile(fd).(*gofs.LoopbackFile), n: n, t: t, user: user}
}

// Fsync fails closed: the descriptor outlives its tier, and on a tier
// that vanished (a lazily unmounted tmpfs, a replaced mount) syncing it
// succeeds while the data is on a filesystem nobody can reach.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if e := h.n.leased(ctx); e != 0 {
		return e
	}
	if err := h.t.Attached(); err != nil {
		return gofs.ToErrno(err)
	}
	return h.LoopbackFile.Fsync(ctx, flags)
}

// Flush fails closed for the same reason as Fsync: close is where an
// nfs tier reports write errors.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if e := h.n.leased(ctx); e != 0 {
		return e
	}
	if err := h.t.Attached(); err != nil {
		return gofs.ToErrno(err)
	}
	return h.LoopbackFile.Flush(ctx)
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.n.addOpens(-1, h.user)
	err := h.LoopbackFile.Release(ctx)
	if h.writes {
		h.n.writers.Add(-1)
		h.n.forgetSelf() // what was cached while it wrote is stale
	}
	return err
}

// Getattr answers fstat from the descriptor, without the kept link
// (see hideKept): an open file replaced by rename has no names left.
func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if e := h.n.leased(ctx); e != 0 {
		return e
	}
	if e := h.LoopbackFile.Getattr(ctx, out); e != 0 {
		return e
	}
	h.n.hideKept(&out.Attr, 0)
	return 0
}
