package fuseserver

import (
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fuseuring"
)

// ringDepth is each worker's submission ring: one entry in flight, and
// its commit-and-fetch.
const ringDepth = 4

// startQueues starts the workers of every possible CPU's queue and
// returns when each has registered or failed to. The kernel uses the
// rings only once every queue has an entry, and until then sends
// everything through /dev/fuse; a worker that fails to register (the
// mount was taken down meanwhile, say) is logged and gone, and the
// mount is served all the same.
func (s *Server) startQueues() {
	cpus, err := fuseuring.PossibleCPUs()
	if err != nil {
		s.logf("fuseserver: no io_uring queues, serving /dev/fuse only: list CPUs: %v", err)
		return
	}
	n := len(cpus) * s.workers
	s.threads = n
	ready := make(chan error, n)
	for _, cpu := range cpus {
		for range s.workers {
			s.loops.Add(1)
			go s.worker(cpu, ready)
		}
	}
	for range n {
		if err := <-ready; err != nil {
			s.logf("fuseserver: %v", err)
		}
	}
}

// worker serves one entry of queue qid from a thread pinned to CPU qid.
func (s *Server) worker(qid int, ready chan<- error) {
	defer s.loops.Done()
	fuseuring.LockToCPU(qid)
	u, e, err := s.register(qid)
	ready <- err
	if err != nil {
		return
	}
	defer e.Free()
	defer u.Close() // before the buffers go: it cancels the kernel's use of them
	var scratch []byte
	for {
		if err := u.Enter(1, fuseuring.EnterGetevents); err != nil {
			if err == unix.EINTR {
				continue
			}
			s.logf("fuseserver: queue %d: io_uring_enter: %v", qid, err)
			return
		}
		alive := u.Reap(func(c *fuseuring.CQE) bool {
			if c.Res < 0 { // the connection was ended
				return false
			}
			scratch = s.answer(e, scratch)
			u.CommitAndFetch(s.fd, qid, e, 0)
			return true
		})
		if !alive {
			return
		}
	}
}

// register creates a worker's ring and entry and registers the entry
// with queue qid.
func (s *Server) register(qid int) (*fuseuring.Ring, *fuseuring.Entry, error) {
	u, err := fuseuring.NewRing(ringDepth)
	if err != nil {
		return nil, nil, err
	}
	e, err := fuseuring.NewEntry(s.payload)
	if err != nil {
		u.Close()
		return nil, nil, err
	}
	u.Register(s.fd, qid, e, 0)
	if err := u.RegisterError(qid); err != nil {
		u.Close()
		e.Free()
		return nil, nil, err
	}
	return u, e, nil
}

// answer serves the request in e and leaves the reply in it. The
// request's payload is copied to scratch (returned, grown as needed)
// first: the reply is written over it.
func (s *Server) answer(e *fuseuring.Entry, scratch []byte) []byte {
	s.ring.Add(1)
	unique := e.InHeader().Unique
	hdr := e.Header[:unsafe.Sizeof(fuse.InHeader{})]
	scratch = append(scratch[:0], e.Payload[:e.In().PayloadSz]...)
	in := [][]byte{hdr, e.OpIn(), scratch}
	out := [][]byte{e.Header[:outHeaderSize], e.Payload}
	n, st := s.ps.HandleRequest(in, out)
	if !st.Ok() || n == 0 {
		// A parse failure, or a reply suppressed because the request was
		// interrupted: the entry must go back to the kernel all the same.
		if st.Ok() {
			st = fuse.EINTR
		}
		n = putError(e.Header, unique, st)
	}
	e.In().PayloadSz = uint32(n - outHeaderSize)
	return scratch
}
