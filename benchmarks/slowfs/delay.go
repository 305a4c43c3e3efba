// Package slowfs is a FUSE loopback that behaves like an NFS mount for
// tests and benchmarks: every metadata operation and every fsync waits a
// fixed delay before it reaches the backing directory, the way each of
// those calls costs a network round trip to an NFS server.
//
// It is an emulation, not a model of any particular NFS server: it adds
// latency only. It does not emulate NFS's close-to-open consistency,
// attribute caching rules, lost locks or server outages.
package slowfs

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Op names one kind of delayed call; it keys the counters.
type Op int

// The delayed operations. Data reads and writes are not delayed; see
// Options for why.
const (
	OpLookup Op = iota
	OpGetattr
	OpSetattr
	OpCreate
	OpMknod
	OpMkdir
	OpSymlink
	OpLink
	OpUnlink
	OpRmdir
	OpRename
	OpOpen
	OpOpendir
	OpReaddir
	OpReadlink
	OpStatfs
	OpXattr
	OpFsync
	OpFsyncdir
	numOps
)

var opNames = [numOps]string{
	"lookup", "getattr", "setattr", "create", "mknod", "mkdir", "symlink",
	"link", "unlink", "rmdir", "rename", "open", "opendir", "readdir",
	"readlink", "statfs", "xattr", "fsync", "fsyncdir",
}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "unknown"
	}
	return opNames[o]
}

// delayer sleeps before each operation and counts them. It is shared
// by every node of one mount.
type delayer struct {
	meta   time.Duration // metadata round trip
	fsync  time.Duration // fsync / fsyncdir
	counts [numOps]atomic.Uint64
}

// wait charges one round trip for op.
func (d *delayer) wait(op Op) {
	d.counts[op].Add(1)
	dl := d.meta
	if op == OpFsync || op == OpFsyncdir {
		dl = d.fsync
	}
	if dl > 0 {
		sleep(dl)
	}
}

// sleep blocks the calling thread for at least dl. It is a sleep, not a
// busy loop: on a 2-core machine a spinning emulator would steal the CPU
// the filesystem under test needs, while a real NFS client just waits
// for the network. time.Sleep is not used because the Go timer here
// wakes up about 1 ms late whatever the duration; nanosleep(2) with a
// 1 ns timer slack overshoots by tens of microseconds.
func sleep(dl time.Duration) {
	// The slack is per thread and Go moves goroutines between threads,
	// so it is set before every sleep (a cheap syscall).
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	deadline := time.Now().Add(dl)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		ts := unix.NsecToTimespec(int64(left))
		if err := unix.Nanosleep(&ts, nil); err != unix.EINTR {
			return
		}
	}
}

// Counts returns how many calls of each kind were delayed, by name.
func (d *delayer) Counts() map[string]uint64 {
	m := make(map[string]uint64, numOps)
	for i := range d.counts {
		if n := d.counts[i].Load(); n > 0 {
			m[Op(i).String()] = n
		}
	}
	return m
}
