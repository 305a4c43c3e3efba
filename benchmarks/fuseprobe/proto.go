// Package fuseprobe measures what one FUSE round trip costs through
// different servers of the same trivial filesystem: go-fuse's server
// (which tierfs uses), a bare loop reading /dev/fuse, and FUSE over
// io_uring (Linux 6.14+, with the fuse module's enable_uring on), where
// each CPU has its own queue served by a thread pinned to that CPU.
//
// The filesystem is a root directory holding one empty file, "f"
// (inode 2). A getxattr of it is always a round trip (the kernel caches
// no xattrs) that the server answers with ENODATA without any work, so
// its rate is the cost of the round trip itself.
package fuseprobe

import (
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FUSE opcodes the probe answers or has to recognise.
const (
	opLookup      = 1
	opForget      = 2
	opGetattr     = 3
	opStatfs      = 17
	opGetxattr    = 22
	opInit        = 26
	opInterrupt   = 36
	opBatchForget = 42
)

const (
	inHeaderSize  = int(unsafe.Sizeof(fuse.InHeader{}))
	outHeaderSize = int(unsafe.Sizeof(fuse.OutHeader{}))
	statfsOutSize = int(unsafe.Sizeof(fuse.StatfsOut{}))
	// maxWrite is what INIT offers; an io_uring payload buffer must
	// hold at least this much (and at least 32 pages, the kernel's
	// default request size).
	maxWrite = 128 << 10
	// cacheSeconds is how long the kernel may keep names and attributes.
	cacheSeconds = 3600
)

// opInSize is the size of each answered opcode's fixed argument. Over
// /dev/fuse it starts the arguments; over io_uring the kernel puts it in
// the entry's op_in area and the rest (names) in the payload.
func opInSize(op uint32) int {
	switch op {
	case opGetattr:
		return 16 // fuse_getattr_in
	case opGetxattr:
		return 8 // fuse_getxattr_in
	}
	return 0
}

func bytesOf[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

func nodeAttr(ino uint64) fuse.Attr {
	if ino == 1 {
		return fuse.Attr{Ino: 1, Mode: unix.S_IFDIR | 0o755, Nlink: 2, Blksize: 4096}
	}
	return fuse.Attr{Ino: ino, Mode: unix.S_IFREG | 0o644, Nlink: 1, Blksize: 4096}
}

// serve answers one request of the probe's filesystem: it writes the
// reply's payload into out and returns the errno (0 for success) and
// the payload's size, which is 0 with an errno. name is the request's
// payload without its NUL.
func serve(h *fuse.InHeader, name []byte, out []byte) (unix.Errno, int) {
	switch h.Opcode {
	case opLookup:
		if h.NodeId != 1 || string(name) != "f" {
			return unix.ENOENT, 0
		}
		e := fuse.EntryOut{NodeId: 2, EntryValid: cacheSeconds, AttrValid: cacheSeconds, Attr: nodeAttr(2)}
		return 0, copy(out, bytesOf(&e))
	case opGetattr:
		a := fuse.AttrOut{AttrValid: cacheSeconds, Attr: nodeAttr(h.NodeId)}
		return 0, copy(out, bytesOf(&a))
	case opGetxattr:
		return unix.ENODATA, 0
	case opStatfs:
		clear(out[:statfsOutSize])
		return 0, statfsOutSize
	}
	return unix.ENOSYS, 0
}

// trimNUL drops the terminating NUL of a name argument.
func trimNUL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == 0 {
		return b[:n-1]
	}
	return b
}

// noReply reports the opcodes the kernel expects no answer to.
func noReply(op uint32) bool {
	return op == opForget || op == opBatchForget || op == opInterrupt
}

// putOut writes the reply header for a request into hdr.
func putOut(hdr []byte, unique uint64, e unix.Errno, n int) {
	*(*fuse.OutHeader)(unsafe.Pointer(&hdr[0])) = fuse.OutHeader{Length: uint32(outHeaderSize + n), Status: -int32(e), Unique: unique}
}
