package tiers

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cred is the identity a backend operation runs with, so that new files
// are owned by the caller from their first byte and an NFS export with
// root_squash sees the real user.
type Cred struct {
	Uid, Gid uint32
	// Pid is the calling thread (0 if unknown). Where the tier refuses
	// the caller's fsuid and fsgid, the call is retried with the
	// thread's supplementary groups as well: a directory writable
	// through one of them (Dovecot's mail_access_groups, shared
	// folders) must accept the caller as it does natively.
	Pid uint32
}

// asCaller runs fn with the caller's identity. fn must change nothing
// when it fails with EACCES, as it may be run twice.
func asCaller(c *Cred, fn func() error) error {
	if c == nil || (c.Uid == 0 && c.Gid == 0) {
		return fn()
	}
	err := onCallerThread(c, nil, fn)
	if !errors.Is(err, unix.EACCES) || c.Pid == 0 {
		return err
	}
	// The kernel checked the caller against all of its groups before it
	// asked (tierfs mounts with default_permissions whenever anyone but
	// root may use it); the tier checked fsgid alone. Reading the groups
	// only now keeps /proc off the common path.
	groups, gerr := procGroups(c.Pid)
	if gerr != nil || len(groups) == 0 {
		return err // the caller is gone, or has no other group
	}
	return onCallerThread(c, groups, fn)
}

// onCallerThread runs fn on a locked OS thread whose fsuid and fsgid,
// and supplementary groups unless groups is nil, are the caller's. All
// three are per thread in the kernel, which is why the goroutine is
// pinned. If the thread's identity cannot be restored it is left
// locked, so the runtime discards it instead of reusing it.
func onCallerThread(c *Cred, groups []int, fn func() error) error {
	runtime.LockOSThread()
	restored := true
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	if groups != nil {
		own, err := unix.Getgroups()
		if err != nil {
			return err
		}
		if err := unix.Setgroups(groups); err != nil {
			return err
		}
		defer func() { restored = unix.Setgroups(own) == nil && restored }()
	}
	if _, err := unix.SetfsgidRetGid(int(c.Gid)); err != nil {
		return err
	}
	unix.SetfsuidRetUid(int(c.Uid))
	defer func() {
		unix.SetfsuidRetUid(0)
		unix.SetfsgidRetGid(0)
		uid, _ := unix.SetfsuidRetUid(-1)
		gid, _ := unix.SetfsgidRetGid(-1)
		restored = uid == 0 && gid == 0
	}()
	return fn()
}

// procGroups reads the supplementary groups of process or thread pid.
func procGroups(pid uint32) ([]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseGroups(f)
}

// parseGroups finds the Groups line of a /proc status file.
func parseGroups(f *os.File) ([]int, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var groups []int
		for _, s := range strings.Fields(rest) {
			g, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("%s: Groups: %w", f.Name(), err)
			}
			groups = append(groups, g)
		}
		return groups, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: no Groups line", f.Name())
}
