package fs

import (
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// newHandle wraps a backing descriptor. The loopback handle implements
// every file operation and offers its descriptor for FUSE passthrough,
// so reads, writes and mmap run in the kernel at native speed; where the
// kernel refuses passthrough, go-fuse falls back to the same handle.
func newHandle(fd int) gofs.FileHandle {
	return gofs.NewLoopbackFile(fd)
}
