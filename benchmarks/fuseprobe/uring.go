package fuseprobe

import (
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

const (
	setupSQE128    = 1 << 10 // a URING_CMD's 80-byte command area
	featSingleMmap = 1 << 0
	enterGetevents = 1
	opURingCmd     = 46
	offSQEs        = 0x10000000
	sqeSize        = 128
	cqeSize        = 16

	// FUSE's commands (enum fuse_uring_cmd).
	cmdRegister       = 1
	cmdCommitAndFetch = 2

	// entriesPerQueue is how many requests a queue can hold at once.
	entriesPerQueue = 2
	ringDepth       = 8
	// headerSize is struct fuse_uring_req_header: in_out (the in or out
	// header), op_in (the opcode's fixed argument), fuse_uring_ent_in_out.
	headerSize  = 128 + 128 + int(unsafe.Sizeof(entInOut{}))
	opInOffset  = 128
	entOffset   = 256
	payloadSize = maxWrite
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

type cqe struct {
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

// entInOut is struct fuse_uring_ent_in_out.
type entInOut struct {
	Flags, CommitID    uint64
	PayloadSz, Padding uint32
	Reserved           uint64
}

// uring is one io_uring instance, used by one thread.
type uring struct {
	fd             int
	entries        uint32
	rings, sqes    []byte
	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        unsafe.Pointer
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           unsafe.Pointer
	unsubmitted    uint32
}

func newURing(entries uint32) (*uring, error) {
	p := ringParams{Flags: setupSQE128}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	u := &uring{fd: int(fd), entries: p.SqEntries}
	if p.Features&featSingleMmap == 0 {
		u.close()
		return nil, fmt.Errorf("io_uring_setup: no IORING_FEAT_SINGLE_MMAP")
	}
	size := max(p.SqOff.Array+p.SqEntries*4, p.CqOff.Cqes+p.CqEntries*cqeSize)
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if u.rings, err = unix.Mmap(u.fd, 0, int(size), prot, flags); err != nil {
		u.close()
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	if u.sqes, err = unix.Mmap(u.fd, offSQEs, int(p.SqEntries)*sqeSize, prot, flags); err != nil {
		u.close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	at := func(off uint32) unsafe.Pointer { return unsafe.Pointer(&u.rings[off]) }
	u.sqHead, u.sqTail, u.sqArray = (*uint32)(at(p.SqOff.Head)), (*uint32)(at(p.SqOff.Tail)), at(p.SqOff.Array)
	u.sqMask = *(*uint32)(at(p.SqOff.RingMask))
	u.cqHead, u.cqTail, u.cqes = (*uint32)(at(p.CqOff.Head)), (*uint32)(at(p.CqOff.Tail)), at(p.CqOff.Cqes)
	u.cqMask = *(*uint32)(at(p.CqOff.RingMask))
	return u, nil
}

func (u *uring) close() {
	if u.sqes != nil {
		unix.Munmap(u.sqes)
	}
	if u.rings != nil {
		unix.Munmap(u.rings)
	}
	unix.Close(u.fd)
}

// push fills the next submission entry and makes it visible to the
// kernel; it is submitted by the next enter. There is always room: a
// queue has fewer entries in flight than the ring has slots.
func (u *uring) push(fill func(s *sqe)) {
	tail := atomic.LoadUint32(u.sqTail)
	idx := tail & u.sqMask
	s := (*sqe)(unsafe.Pointer(&u.sqes[int(idx)*sqeSize]))
	*s = sqe{}
	fill(s)
	*(*uint32)(unsafe.Add(u.sqArray, idx*4)) = idx
	atomic.StoreUint32(u.sqTail, tail+1)
	u.unsubmitted++
}

// enter submits what was pushed and, with enterGetevents, waits for at
// least minComplete completions.
func (u *uring) enter(minComplete, flags uint32) error {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(u.unsubmitted), uintptr(minComplete), uintptr(flags), 0, 0)
	if errno != 0 {
		return errno
	}
	u.unsubmitted -= uint32(n)
	return nil
}

// reap calls f for each completion until f returns false.
func (u *uring) reap(f func(c *cqe) bool) bool {
	head, tail := atomic.LoadUint32(u.cqHead), atomic.LoadUint32(u.cqTail)
	ok := true
	for ; head != tail && ok; head++ {
		ok = f((*cqe)(unsafe.Add(u.cqes, (head&u.cqMask)*cqeSize)))
	}
	atomic.StoreUint32(u.cqHead, head)
	return ok
}

// ringEnt is one FUSE ring entry: the buffers a request arrives in and
// its reply leaves from.
type ringEnt struct {
	header, payload []byte
	iov             [2]unix.Iovec
}

func newRingEnt() (*ringEnt, error) {
	anon := func(n int) ([]byte, error) {
		return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	}
	e := &ringEnt{}
	var err error
	if e.header, err = anon(4096); err != nil {
		return nil, err
	}
	if e.payload, err = anon(payloadSize); err != nil {
		unix.Munmap(e.header)
		return nil, err
	}
	e.iov[0] = unix.Iovec{Base: &e.header[0]}
	e.iov[0].SetLen(headerSize)
	e.iov[1] = unix.Iovec{Base: &e.payload[0]}
	e.iov[1].SetLen(payloadSize)
	return e, nil
}

func (e *ringEnt) free() {
	unix.Munmap(e.header)
	unix.Munmap(e.payload)
}

// startRings registers a queue for every possible CPU (the kernel uses
// the rings only once all of them are registered) and returns when each
// has registered or one has failed.
func (s *Server) startRings() error {
	cpus, err := possibleCPUs()
	if err != nil {
		return err
	}
	ready := make(chan error, len(cpus))
	for _, cpu := range cpus {
		s.loops.Add(1)
		go s.queueLoop(cpu, ready)
	}
	var first error
	for range cpus {
		if err := <-ready; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// queueLoop serves FUSE queue qid from a thread pinned to CPU qid.
func (s *Server) queueLoop(qid int, ready chan<- error) {
	defer s.loops.Done()
	// The ring's completions run as this thread's task work, and the
	// thread is pinned: it stays locked, and ends with the goroutine.
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(qid)
	unix.SchedSetaffinity(0, &set) // an offline CPU keeps the thread unpinned
	u, ents, err := s.register(qid)
	ready <- err
	if err != nil {
		return
	}
	defer release(u, ents)
	out := make([]byte, 256)
	for {
		if err := u.enter(1, enterGetevents); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if !u.reap(func(c *cqe) bool { return s.answer(u, qid, ents, c, out) }) {
			return // the connection is gone
		}
	}
}

// release closes a queue's ring, which cancels what the kernel still
// holds of it, then frees the entries' buffers.
func release(u *uring, ents []*ringEnt) {
	u.close()
	for _, e := range ents {
		e.free()
	}
}

// register creates qid's ring and hands the kernel its entries.
func (s *Server) register(qid int) (*uring, []*ringEnt, error) {
	u, err := newURing(ringDepth)
	if err != nil {
		return nil, nil, err
	}
	var ents []*ringEnt
	for i := range entriesPerQueue {
		e, err := newRingEnt()
		if err != nil {
			release(u, ents)
			return nil, nil, err
		}
		ents = append(ents, e)
		u.push(func(q *sqe) {
			q.Opcode, q.Fd, q.CmdOp, q.UserData = opURingCmd, int32(s.fd), cmdRegister, uint64(i)
			q.Addr, q.Len = uint64(uintptr(unsafe.Pointer(&e.iov[0]))), uint32(len(e.iov))
			(*cmdReq)(unsafe.Pointer(&q.Cmd[0])).Qid = uint16(qid)
		})
	}
	if err := u.enter(0, 0); err != nil {
		release(u, ents)
		return nil, nil, fmt.Errorf("queue %d: submit REGISTER: %w", qid, err)
	}
	// A REGISTER that fails completes at once; one that worked
	// completes only when a request arrives.
	u.reap(func(c *cqe) bool {
		err = fmt.Errorf("queue %d: REGISTER: %w", qid, unix.Errno(-c.Res))
		return false
	})
	if err != nil {
		release(u, ents)
		return nil, nil, err
	}
	return u, ents, nil
}

// answer serves the request completion c delivered and queues its
// reply with the fetch of the next request. It returns false when the
// completion is an error: the connection was aborted.
func (s *Server) answer(u *uring, qid int, ents []*ringEnt, c *cqe, out []byte) bool {
	if c.Res < 0 || c.UserData >= uint64(len(ents)) {
		return false
	}
	e := ents[c.UserData]
	h := *(*fuse.InHeader)(unsafe.Pointer(&e.header[0]))
	io := (*entInOut)(unsafe.Pointer(&e.header[entOffset]))
	s.ring.Add(1)
	errno, n := serve(&h, trimNUL(e.payload[:io.PayloadSz]), out)
	copy(e.payload, out[:n])
	putOut(e.header, h.Unique, errno, n)
	io.PayloadSz = uint32(n)
	commit := io.CommitID
	u.push(func(q *sqe) {
		q.Opcode, q.Fd, q.CmdOp, q.UserData = opURingCmd, int32(s.fd), cmdCommitAndFetch, c.UserData
		r := (*cmdReq)(unsafe.Pointer(&q.Cmd[0]))
		r.CommitID, r.Qid = commit, uint16(qid)
	})
	return true
}

// possibleCPUs lists the CPUs the kernel may run on, one FUSE queue each.
func possibleCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return nil, fmt.Errorf("fuseprobe: %w", err)
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

// parseCPUList parses the kernel's CPU list format ("0-3,8,10-11").
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || b < a {
			return nil, fmt.Errorf("fuseprobe: bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
