package fs

import (
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Opcodes counted per FUSE request; the names are the kernel's.
const (
	opLookup = iota
	opForget
	opGetattr
	opSetattr
	opMknod
	opMkdir
	opUnlink
	opRmdir
	opRename
	opLink
	opSymlink
	opReadlink
	opAccess
	opGetxattr
	opListxattr
	opSetxattr
	opRemovexattr
	opCreate
	opOpen
	opRead
	opWrite
	opRelease
	opFlush
	opFsync
	opOpendir
	opReaddir
	opReaddirplus
	opReleasedir
	opFsyncdir
	opStatfs
	opOther
	numOps
)

var opNames = [numOps]string{
	"LOOKUP", "FORGET", "GETATTR", "SETATTR", "MKNOD", "MKDIR", "UNLINK", "RMDIR",
	"RENAME", "LINK", "SYMLINK", "READLINK", "ACCESS", "GETXATTR", "LISTXATTR",
	"SETXATTR", "REMOVEXATTR", "CREATE", "OPEN", "READ", "WRITE", "RELEASE", "FLUSH",
	"FSYNC", "OPENDIR", "READDIR", "READDIRPLUS", "RELEASEDIR", "FSYNCDIR", "STATFS", "OTHER",
}

// requestCounts counts FUSE requests by opcode, so the effect of kernel
// caching can be seen (and benchmarks can report requests per operation).
type requestCounts [numOps]atomic.Uint64

func (c *requestCounts) snapshot() map[string]uint64 {
	m := make(map[string]uint64, numOps)
	for i := range c {
		if v := c[i].Load(); v != 0 {
			m[opNames[i]] = v
		}
	}
	return m
}

// countingFS counts requests on their way to the node bridge.
type countingFS struct {
	fuse.RawFileSystem
	c *requestCounts
}

func (f countingFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	f.c[opLookup].Add(1)
	return f.RawFileSystem.Lookup(cancel, h, name, out)
}

func (f countingFS) Forget(nodeid, nlookup uint64) {
	f.c[opForget].Add(1)
	f.RawFileSystem.Forget(nodeid, nlookup)
}

func (f countingFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	f.c[opGetattr].Add(1)
	return f.RawFileSystem.GetAttr(cancel, in, out)
}

func (f countingFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	f.c[opSetattr].Add(1)
	return f.RawFileSystem.SetAttr(cancel, in, out)
}

func (f countingFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	f.c[opMknod].Add(1)
	return f.RawFileSystem.Mknod(cancel, in, name, out)
}

func (f countingFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	f.c[opMkdir].Add(1)
	return f.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (f countingFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	f.c[opUnlink].Add(1)
	return f.RawFileSystem.Unlink(cancel, h, name)
}

func (f countingFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	f.c[opRmdir].Add(1)
	return f.RawFileSystem.Rmdir(cancel, h, name)
}

func (f countingFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	f.c[opRename].Add(1)
	return f.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (f countingFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	f.c[opLink].Add(1)
	return f.RawFileSystem.Link(cancel, in, name, out)
}

func (f countingFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	f.c[opSymlink].Add(1)
	return f.RawFileSystem.Symlink(cancel, h, target, name, out)
}

func (f countingFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	f.c[opReadlink].Add(1)
	return f.RawFileSystem.Readlink(cancel, h)
}

func (f countingFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	f.c[opAccess].Add(1)
	return f.RawFileSystem.Access(cancel, in)
}

func (f countingFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	f.c[opGetxattr].Add(1)
	return f.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (f countingFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	f.c[opListxattr].Add(1)
	return f.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (f countingFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	f.c[opSetxattr].Add(1)
	return f.RawFileSystem.SetXAttr(cancel, in, attr, data)
}

func (f countingFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	f.c[opRemovexattr].Add(1)
	return f.RawFileSystem.RemoveXAttr(cancel, h, attr)
}

func (f countingFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	f.c[opCreate].Add(1)
	return f.RawFileSystem.Create(cancel, in, name, out)
}

func (f countingFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.c[opOpen].Add(1)
	return f.RawFileSystem.Open(cancel, in, out)
}

func (f countingFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	f.c[opRead].Add(1)
	return f.RawFileSystem.Read(cancel, in, buf)
}

func (f countingFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	f.c[opWrite].Add(1)
	return f.RawFileSystem.Write(cancel, in, data)
}

func (f countingFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	f.c[opRelease].Add(1)
	f.RawFileSystem.Release(cancel, in)
}

func (f countingFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	f.c[opFlush].Add(1)
	return f.RawFileSystem.Flush(cancel, in)
}

func (f countingFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	f.c[opFsync].Add(1)
	return f.RawFileSystem.Fsync(cancel, in)
}

func (f countingFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.c[opOpendir].Add(1)
	return f.RawFileSystem.OpenDir(cancel, in, out)
}

func (f countingFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f.c[opReaddir].Add(1)
	return f.RawFileSystem.ReadDir(cancel, in, out)
}

func (f countingFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f.c[opReaddirplus].Add(1)
	return f.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (f countingFS) ReleaseDir(in *fuse.ReleaseIn) {
	f.c[opReleasedir].Add(1)
	f.RawFileSystem.ReleaseDir(in)
}

func (f countingFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	f.c[opFsyncdir].Add(1)
	return f.RawFileSystem.FsyncDir(cancel, in)
}

func (f countingFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	f.c[opStatfs].Add(1)
	return f.RawFileSystem.StatFs(cancel, h, out)
}
