package fuseserver

import (
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Notification codes (enum fuse_notify_code), the error field of a
// message with no unique.
const (
	notifyInvalInode = 2
	notifyInvalEntry = 3
	notifyDelete     = 6
	notifyPrune      = 9
)

// notify writes one notification to the kernel.
func (s *Server) notify(code int32, body []byte, name string) fuse.Status {
	msg := make([]byte, outHeaderSize, outHeaderSize+len(body)+len(name)+1)
	msg = append(msg, body...)
	if name != "" {
		msg = append(append(msg, name...), 0) // the kernel wants the NUL
	}
	*(*fuse.OutHeader)(unsafe.Pointer(&msg[0])) = fuse.OutHeader{Length: uint32(len(msg)), Status: code}
	if _, err := unix.Write(s.fd, msg); err != nil {
		return fuse.ToStatus(err)
	}
	return fuse.OK
}

func bytesOf[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// EntryNotify drops name in directory parent from the kernel's caches.
func (s *Server) EntryNotify(parent uint64, name string) fuse.Status {
	m := fuse.NotifyInvalEntryOut{Parent: parent, NameLen: uint32(len(name))}
	return s.notify(notifyInvalEntry, bytesOf(&m), name)
}

// DeleteNotify tells the kernel that name, inode child, is gone from
// directory parent.
func (s *Server) DeleteNotify(parent, child uint64, name string) fuse.Status {
	m := fuse.NotifyInvalDeleteOut{Parent: parent, Child: child, NameLen: uint32(len(name))}
	return s.notify(notifyDelete, bytesOf(&m), name)
}

// InodeNotify drops node's attributes and the given range of its pages
// from the kernel's caches.
func (s *Server) InodeNotify(node uint64, off, length int64) fuse.Status {
	m := fuse.NotifyInvalInodeOut{Ino: node, Off: off, Length: length}
	return s.notify(notifyInvalInode, bytesOf(&m), "")
}

// PruneNotify asks the kernel to drop the entries of the given nodes
// that nothing uses (Linux 6.17+; ENOSYS before).
func (s *Server) PruneNotify(nodes []uint64) fuse.Status {
	if s.minor < 45 {
		return fuse.ENOSYS
	}
	if len(nodes) == 0 {
		return fuse.OK
	}
	m := fuse.NotifyPruneOut{Count: uint32(len(nodes))}
	body := append(bytesOf(&m), unsafe.Slice((*byte)(unsafe.Pointer(&nodes[0])), 8*len(nodes))...)
	return s.notify(notifyPrune, body, "")
}

// InodeRetrieveCache is not offered.
func (s *Server) InodeRetrieveCache(node uint64, offset int64, dest []byte) (int, fuse.Status) {
	return 0, fuse.ENOSYS
}

// InodeNotifyStoreCache is not offered.
func (s *Server) InodeNotifyStoreCache(node uint64, offset int64, data []byte) fuse.Status {
	return fuse.ENOSYS
}

// RegisterBackingFd registers m's file as a backing file for
// passthrough and returns its id.
func (s *Server) RegisterBackingFd(m *fuse.BackingMap) (int32, syscall.Errno) {
	id, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), devIocBackingOpen, uintptr(unsafe.Pointer(m)))
	return int32(id), errno
}

// UnregisterBackingFd drops a backing file id.
func (s *Server) UnregisterBackingFd(id int32) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), devIocBackingClose, uintptr(unsafe.Pointer(&id)))
	return errno
}

// The passthrough ioctls of /dev/fuse.
const (
	devIocBackingOpen  = 0x4010e501
	devIocBackingClose = 0x4004e502
)
