// Package fuseuring holds the kernel interface of FUSE over io_uring
// (Linux 6.14+, the fuse module's enable_uring): an io_uring instance
// driven by hand, and the layout of a FUSE ring entry. A server
// registers entries with a queue, one queue per possible CPU; the kernel
// hands each request to an entry of the queue of the CPU that sent it,
// and the reply goes back with the fetch of the next request.
package fuseuring

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// EnableParam is the fuse module parameter that lets a server ask for
// FUSE over io_uring at INIT.
const EnableParam = "/sys/module/fuse/parameters/enable_uring"

// ErrNotOffered is returned when the kernel does not offer FUSE over
// io_uring at INIT.
var ErrNotOffered = errors.New("the kernel does not offer FUSE over io_uring (" + EnableParam + " is off or missing)")

// Enabled reports whether the fuse module offers io_uring to servers
// that mount from now on.
func Enabled() bool {
	b, err := os.ReadFile(EnableParam)
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// SetEnabled sets the fuse module's enable_uring and returns a function
// that writes back the value it had. It is the machine's setting: only
// benchmarks and tests change it, for their run.
func SetEnabled(on bool) (restore func() error, err error) {
	old, err := os.ReadFile(EnableParam)
	if err != nil {
		return nil, fmt.Errorf("FUSE over io_uring: %w", err)
	}
	v := []byte("N")
	if on {
		v = []byte("Y")
	}
	if err := os.WriteFile(EnableParam, v, 0); err != nil {
		return nil, fmt.Errorf("FUSE over io_uring: %w", err)
	}
	return func() error { return os.WriteFile(EnableParam, old, 0) }, nil
}

// Flags2 is FUSE_OVER_IO_URING in the INIT flags2 word.
const Flags2 = uint32(fuse.CAP_OVER_IO_URING >> 32)

const (
	setupSQE128    = 1 << 10 // a URING_CMD's 80-byte command area
	featSingleMmap = 1 << 0
	opURingCmd     = 46
	offSQEs        = 0x10000000
	sqeSize        = 128
	cqeSize        = 16

	// EnterGetevents makes Enter wait for completions.
	EnterGetevents = 1

	// FUSE's ring commands (enum fuse_uring_cmd).
	cmdRegister       = 1
	cmdCommitAndFetch = 2
)

// The layout of struct fuse_uring_req_header, an entry's header buffer:
// the in or out header, the opcode's fixed argument (op_in), then
// fuse_uring_ent_in_out.
const (
	HeaderSize = 256 + int(unsafe.Sizeof(EntInOut{}))
	OpInOffset = 128
	EntOffset  = 256
)

type sqOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

// ringParams is struct io_uring_params.
type ringParams struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  sqOffsets
	CqOff                                                                  cqOffsets
}

// sqe is a 128-byte submission entry (IORING_SETUP_SQE128).
type sqe struct {
	Opcode, Flags uint8
	Ioprio        uint16
	Fd            int32
	CmdOp, Pad1   uint32
	Addr          uint64
	Len, OpFlags  uint32
	UserData      uint64
	BufIndex      uint16
	Personality   uint16
	SpliceFdIn    int32
	Cmd           [80]byte
}

// CQE is a completion: UserData names the entry, Res < 0 is an errno.
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// cmdReq is struct fuse_uring_cmd_req, in the SQE's command area.
type cmdReq struct {
	Flags, CommitID uint64
	Qid             uint16
	Pad             [6]byte
}

// EntInOut is struct fuse_uring_ent_in_out: CommitID names the request
// to the kernel, PayloadSz is the size of the payload in and out.
type EntInOut struct {
	Flags, CommitID    uint64
	PayloadSz, Padding uint32
	Reserved           uint64
}

// Ring is one io_uring instance, driven by one thread.
type Ring struct {
	fd             int
	rings, sqes    []byte
	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        unsafe.Pointer
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           unsafe.Pointer
	unsubmitted    uint32
}

// NewRing sets up a ring with room for entries submissions.
func NewRing(entries uint32) (*Ring, error) {
	p := ringParams{Flags: setupSQE128}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	u := &Ring{fd: int(fd)}
	if p.Features&featSingleMmap == 0 {
		u.Close()
		return nil, errors.New("io_uring_setup: no IORING_FEAT_SINGLE_MMAP")
	}
	size := max(p.SqOff.Array+p.SqEntries*4, p.CqOff.Cqes+p.CqEntries*cqeSize)
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if u.rings, err = unix.Mmap(u.fd, 0, int(size), prot, flags); err != nil {
		u.Close()
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	if u.sqes, err = unix.Mmap(u.fd, offSQEs, int(p.SqEntries)*sqeSize, prot, flags); err != nil {
		u.Close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	at := func(off uint32) unsafe.Pointer { return unsafe.Pointer(&u.rings[off]) }
	u.sqHead, u.sqTail, u.sqArray = (*uint32)(at(p.SqOff.Head)), (*uint32)(at(p.SqOff.Tail)), at(p.SqOff.Array)
	u.sqMask = *(*uint32)(at(p.SqOff.RingMask))
	u.cqHead, u.cqTail, u.cqes = (*uint32)(at(p.CqOff.Head)), (*uint32)(at(p.CqOff.Tail)), at(p.CqOff.Cqes)
	u.cqMask = *(*uint32)(at(p.CqOff.RingMask))
	return u, nil
}

// Close closes the ring, which cancels what the kernel still holds of
// it (entries registered through it are then gone).
func (u *Ring) Close() {
	if u.sqes != nil {
		unix.Munmap(u.sqes)
	}
	if u.rings != nil {
		unix.Munmap(u.rings)
	}
	unix.Close(u.fd)
}

// push fills the next submission entry and makes it visible to the
// kernel; it is submitted by the next Enter. The caller keeps fewer
// entries in flight than the ring has slots, so there is always room.
func (u *Ring) push(fill func(s *sqe)) {
	tail := atomic.LoadUint32(u.sqTail)
	idx := tail & u.sqMask
	s := (*sqe)(unsafe.Pointer(&u.sqes[int(idx)*sqeSize]))
	*s = sqe{}
	fill(s)
	*(*uint32)(unsafe.Add(u.sqArray, idx*4)) = idx
	atomic.StoreUint32(u.sqTail, tail+1)
	u.unsubmitted++
}

// Enter submits what was pushed and, with EnterGetevents, waits for at
// least minComplete completions.
func (u *Ring) Enter(minComplete, flags uint32) error {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(u.unsubmitted), uintptr(minComplete), uintptr(flags), 0, 0)
	if errno != 0 {
		return errno
	}
	u.unsubmitted -= uint32(n)
	return nil
}

// Reap calls f for each completion until f returns false, and reports
// whether f always returned true.
func (u *Ring) Reap(f func(c *CQE) bool) bool {
	head, tail := atomic.LoadUint32(u.cqHead), atomic.LoadUint32(u.cqTail)
	ok := true
	for ; head != tail && ok; head++ {
		ok = f((*CQE)(unsafe.Add(u.cqes, (head&u.cqMask)*cqeSize)))
	}
	atomic.StoreUint32(u.cqHead, head)
	return ok
}

// Register queues the registration of e with FUSE queue qid of the
// connection devFD; its completion, tagged tag, delivers the first
// request.
func (u *Ring) Register(devFD, qid int, e *Entry, tag uint64) {
	u.push(func(q *sqe) {
		q.Opcode, q.Fd, q.CmdOp, q.UserData = opURingCmd, int32(devFD), cmdRegister, tag
		q.Addr, q.Len = uint64(uintptr(unsafe.Pointer(&e.iov[0]))), uint32(len(e.iov))
		(*cmdReq)(unsafe.Pointer(&q.Cmd[0])).Qid = uint16(qid)
	})
}

// CommitAndFetch queues e's reply together with the fetch of the next
// request into e.
func (u *Ring) CommitAndFetch(devFD, qid int, e *Entry, tag uint64) {
	commit := e.In().CommitID
	u.push(func(q *sqe) {
		q.Opcode, q.Fd, q.CmdOp, q.UserData = opURingCmd, int32(devFD), cmdCommitAndFetch, tag
		r := (*cmdReq)(unsafe.Pointer(&q.Cmd[0]))
		r.CommitID, r.Qid = commit, uint16(qid)
	})
}

// RegisterError submits what Register queued and returns the error of a
// registration the kernel refused at once. One that worked completes
// only when a request arrives, which can be at once: such completions
// stay on the ring for Reap.
func (u *Ring) RegisterError(qid int) error {
	if err := u.Enter(0, 0); err != nil {
		return fmt.Errorf("queue %d: submit REGISTER: %w", qid, err)
	}
	head, tail := atomic.LoadUint32(u.cqHead), atomic.LoadUint32(u.cqTail)
	for ; head != tail; head++ {
		if c := (*CQE)(unsafe.Add(u.cqes, (head&u.cqMask)*cqeSize)); c.Res < 0 {
			return fmt.Errorf("queue %d: REGISTER: %w", qid, unix.Errno(-c.Res))
		}
	}
	return nil
}

// Entry is one FUSE ring entry: the buffers a request arrives in and its
// reply leaves from.
type Entry struct {
	Header, Payload []byte
	iov             [2]unix.Iovec
}

// NewEntry maps an entry's buffers; payload must be at least the
// connection's largest request (max_write, and 32 pages). The payload
// is not populated: only what requests use of it becomes resident.
func NewEntry(payload int) (*Entry, error) {
	anon := func(n int, flags int) ([]byte, error) {
		return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|flags)
	}
	e := &Entry{}
	var err error
	if e.Header, err = anon(4096, unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("map ring entry: %w", err)
	}
	if e.Payload, err = anon(payload, 0); err != nil {
		unix.Munmap(e.Header)
		return nil, fmt.Errorf("map ring entry: %w", err)
	}
	e.iov[0] = unix.Iovec{Base: &e.Header[0]}
	e.iov[0].SetLen(HeaderSize)
	e.iov[1] = unix.Iovec{Base: &e.Payload[0]}
	e.iov[1].SetLen(payload)
	return e, nil
}

// Free unmaps the entry's buffers; its ring must be closed first.
func (e *Entry) Free() {
	unix.Munmap(e.Header)
	unix.Munmap(e.Payload)
}

// InHeader is the request's header.
func (e *Entry) InHeader() *fuse.InHeader { return (*fuse.InHeader)(unsafe.Pointer(&e.Header[0])) }

// In is the entry's fuse_uring_ent_in_out.
func (e *Entry) In() *EntInOut { return (*EntInOut)(unsafe.Pointer(&e.Header[EntOffset])) }

// OpIn is the request's fixed argument: the bytes of the request, as
// /dev/fuse would deliver them, between the header and the payload.
func (e *Entry) OpIn() []byte {
	hdr := int(unsafe.Sizeof(fuse.InHeader{}))
	n := int(e.InHeader().Length) - hdr - int(e.In().PayloadSz)
	return e.Header[OpInOffset : OpInOffset+min(max(n, 0), EntOffset-OpInOffset)]
}

// LockToCPU locks the calling goroutine to its thread for good (the
// thread ends with the goroutine) and pins the thread to cpu. A ring's
// completions run as task work of the thread that submitted to it, and
// queue cpu's requests come from that CPU. An offline CPU leaves the
// thread unpinned.
func LockToCPU(cpu int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	unix.SchedSetaffinity(0, &set)
}

// PossibleCPUs lists the CPUs the kernel may run on: one FUSE queue each.
func PossibleCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return nil, err
	}
	return ParseCPUList(strings.TrimSpace(string(b)))
}

// ParseCPUList parses the kernel's CPU list format ("0-3,8,10-11").
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || b < a {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
