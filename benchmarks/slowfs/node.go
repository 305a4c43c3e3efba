package slowfs

import (
	"bytes"
	"context"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is go-fuse's loopback node with a delay in front of every
// metadata call. Children are wrapped too (WrapChild), so the whole tree
// is slow.
type node struct {
	*fs.LoopbackNode
	d          *delayer
	userXattrs bool // Options.UserXattrsOnly
	clock      serverClock
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeStatxer        = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeReadlinker     = (*node)(nil)
	_ fs.NodeStatfser       = (*node)(nil)
	_ fs.NodeGetxattrer     = (*node)(nil)
	_ fs.NodeSetxattrer     = (*node)(nil)
	_ fs.NodeListxattrer    = (*node)(nil)
	_ fs.NodeRemovexattrer  = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
)

// WrapChild makes every node the loopback creates a slow one.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), d: n.d, userXattrs: n.userXattrs, clock: n.clock}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.d.wait(OpLookup)
	ch, errno := n.LoopbackNode.Lookup(ctx, name, out)
	n.clock.attr(&out.Attr)
	return ch, errno
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.d.wait(OpGetattr)
	errno := n.LoopbackNode.Getattr(ctx, f, out)
	n.clock.attr(&out.Attr)
	return errno
}

// Statx is the kernel's GETATTR when the caller asks for more than the
// basic attributes (the birth time): the same round trip to the server.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	n.d.wait(OpGetattr)
	errno := n.LoopbackNode.Statx(ctx, f, flags, mask, out)
	n.clock.statx(&out.Statx)
	return errno
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.d.wait(OpSetattr)
	errno := n.LoopbackNode.Setattr(ctx, f, n.clock.setattr(in), out)
	n.clock.attr(&out.Attr)
	return errno
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.d.wait(OpCreate)
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	n.clock.attr(&out.Attr)
	return ch, fh, fl, errno
}

// Tmpfile (open with O_TMPFILE) creates an inode like Create does.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.d.wait(OpCreate)
	ch, fh, fl, errno := n.LoopbackNode.Tmpfile(ctx, flags, mode, out)
	n.clock.attr(&out.Attr)
	return ch, fh, fl, errno
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.d.wait(OpMknod)
	ch, errno := n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	n.clock.attr(&out.Attr)
	return ch, errno
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.d.wait(OpMkdir)
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	n.clock.attr(&out.Attr)
	return ch, errno
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.d.wait(OpSymlink)
	ch, errno := n.LoopbackNode.Symlink(ctx, target, name, out)
	n.clock.attr(&out.Attr)
	return ch, errno
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.d.wait(OpLink)
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	n.clock.attr(&out.Attr)
	return ch, errno
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.d.wait(OpUnlink)
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.d.wait(OpRmdir)
	return n.LoopbackNode.Rmdir(ctx, name)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	n.d.wait(OpRename)
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.d.wait(OpOpen)
	return n.LoopbackNode.Open(ctx, flags)
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.d.wait(OpOpendir)
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{inner: fh, d: n.d}, fl, 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	n.d.wait(OpReadlink)
	return n.LoopbackNode.Readlink(ctx)
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	n.d.wait(OpStatfs)
	return n.LoopbackNode.Statfs(ctx, out)
}

// refused reports whether attr is outside what the emulated NFS client
// carries (Options.UserXattrsOnly); it refuses those itself, without a
// round trip.
func (n *node) refused(attr string) bool {
	return n.userXattrs && !strings.HasPrefix(attr, "user.")
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.refused(attr) {
		return 0, syscall.EOPNOTSUPP
	}
	n.d.wait(OpXattr)
	return n.LoopbackNode.Getxattr(ctx, attr, dest)
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if n.refused(attr) {
		return syscall.EOPNOTSUPP
	}
	n.d.wait(OpXattr)
	return n.LoopbackNode.Setxattr(ctx, attr, data, flags)
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	n.d.wait(OpXattr)
	if !n.userXattrs {
		return n.LoopbackNode.Listxattr(ctx, dest)
	}
	all := make([]byte, 64<<10) // the kernel's XATTR_LIST_MAX
	sz, e := n.LoopbackNode.Listxattr(ctx, all)
	if e != 0 {
		return 0, e
	}
	var user []byte
	for _, name := range bytes.SplitAfter(all[:sz], []byte{0}) {
		if bytes.HasPrefix(name, []byte("user.")) {
			user = append(user, name...)
		}
	}
	if len(dest) == 0 {
		return uint32(len(user)), 0
	}
	if len(dest) < len(user) {
		return 0, syscall.ERANGE
	}
	return uint32(copy(dest, user)), 0
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if n.refused(attr) {
		return syscall.EOPNOTSUPP
	}
	n.d.wait(OpXattr)
	return n.LoopbackNode.Removexattr(ctx, attr)
}

// Fsync is on the node so that the bridge calls it before the file
// handle's own Fsync.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	n.d.wait(OpFsync)
	if fh, ok := f.(fs.FileFsyncer); ok {
		return fh.Fsync(ctx, flags)
	}
	return syscall.ENOTSUP
}
