package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Fsync flushes a file through its handle, or every copy of a directory
// (Dovecot fsyncs directories opened O_RDONLY after renames).
func (n *node) Fsync(ctx context.Context, f gofs.FileHandle, flags uint32) syscall.Errno {
	if e := n.leased(ctx); e != 0 {
		return e
	}
	if !n.IsDir() {
		if fs, ok := f.(gofs.FileFsyncer); ok {
			return fs.Fsync(ctx, flags)
		}
		return syscall.EBADF
	}
	p, e := n.relPath()
	if e != 0 {
		return e
	}
	for _, ti := range n.holders() {
		if err := n.r.tiers[ti].FsyncDir(p); err != nil && !missing(err) {
			return errno(err)
		}
	}
	return 0
}

// Statfs reports the tier a new file in this directory would go to (an
// overflow tier while its rule's is short), so that free space means
// something to the caller.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	p, e := n.relPath()
	if e != 0 {
		return e
	}
	probe := "statfs"
	if p != "" {
		probe = p + "/statfs"
	}
	if !n.IsDir() {
		probe = p
	}
	var st unix.Statfs_t
	ti, _, _ := n.r.placeNew(probe)
	if err := n.r.tiers[ti].Statfs(&st); err != nil {
		return errno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}
