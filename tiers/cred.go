package tiers

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Cred is the identity a backend operation runs with, so that new files
// are owned by the caller from their first byte and an NFS export with
// root_squash sees the real user.
type Cred struct {
	Uid, Gid uint32
}

// asCaller runs fn on a locked OS thread whose fsuid/fsgid are the
// caller's. setfsuid affects only the calling thread, which is why the
// goroutine is pinned. If the identity cannot be restored the thread is
// left locked, so the runtime discards it instead of reusing it.
func asCaller(c *Cred, fn func() error) error {
	if c == nil || (c.Uid == 0 && c.Gid == 0) {
		return fn()
	}
	runtime.LockOSThread()
	if _, err := unix.SetfsgidRetGid(int(c.Gid)); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	unix.SetfsuidRetUid(int(c.Uid))
	err := fn()
	unix.SetfsuidRetUid(0)
	unix.SetfsgidRetGid(0)
	if uid, _ := unix.SetfsuidRetUid(-1); uid != 0 {
		return err // keep the thread locked: it dies with the goroutine
	}
	if gid, _ := unix.SetfsgidRetGid(-1); gid != 0 {
		return err
	}
	runtime.UnlockOSThread()
	return err
}
