package slowfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// readdirBatch is how many entries one emulated READDIR round trip
// returns. A Linux NFS client asks for 32 KiB per READDIR call, which
// holds a few hundred short names; 256 is in that range.
const readdirBatch = 256

// dirHandle charges one round trip per readdirBatch entries and one per
// fsyncdir, and otherwise forwards to the loopback directory stream.
type dirHandle struct {
	inner fs.FileHandle
	d     *delayer
	n     int // entries returned so far
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
	_ fs.FileFsyncdirer   = (*dirHandle)(nil)
)

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	r, ok := h.inner.(fs.FileReaddirenter)
	if !ok {
		return nil, syscall.ENOTSUP
	}
	if h.n%readdirBatch == 0 {
		h.d.wait(OpReaddir)
	}
	de, errno := r.Readdirent(ctx)
	if de != nil {
		h.n++
	}
	return de, errno
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	s, ok := h.inner.(fs.FileSeekdirer)
	if !ok {
		return syscall.ENOTSUP
	}
	h.n = 0
	return s.Seekdir(ctx, off)
}

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	if r, ok := h.inner.(fs.FileReleasedirer); ok {
		r.Releasedir(ctx, flags)
	}
}

func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	h.d.wait(OpFsyncdir)
	if f, ok := h.inner.(fs.FileFsyncdirer); ok {
		return f.Fsyncdir(ctx, flags)
	}
	return syscall.ENOTSUP
}
