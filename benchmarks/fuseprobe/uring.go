package fuseprobe

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fuseuring"
)

const (
	// entriesPerQueue is how many requests a queue can hold at once.
	entriesPerQueue = 2
	ringDepth       = 8
)

// startRings registers a queue for every possible CPU (the kernel uses
// the rings only once all of them are registered) and returns when each
// has registered or one has failed.
func (s *Server) startRings() error {
	cpus, err := fuseuring.PossibleCPUs()
	if err != nil {
		return fmt.Errorf("fuseprobe: %w", err)
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
	fuseuring.LockToCPU(qid)
	u, ents, err := s.register(qid)
	ready <- err
	if err != nil {
		return
	}
	defer release(u, ents)
	out := make([]byte, 256)
	for {
		if err := u.Enter(1, fuseuring.EnterGetevents); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if !u.Reap(func(c *fuseuring.CQE) bool { return s.answer(u, qid, ents, c, out) }) {
			return // the connection is gone
		}
	}
}

// release closes a queue's ring, which cancels what the kernel still
// holds of it, then frees the entries' buffers.
func release(u *fuseuring.Ring, ents []*fuseuring.Entry) {
	u.Close()
	for _, e := range ents {
		e.Free()
	}
}

// register creates qid's ring and hands the kernel its entries.
func (s *Server) register(qid int) (*fuseuring.Ring, []*fuseuring.Entry, error) {
	u, err := fuseuring.NewRing(ringDepth)
	if err != nil {
		return nil, nil, err
	}
	var ents []*fuseuring.Entry
	for i := range entriesPerQueue {
		e, err := fuseuring.NewEntry(maxWrite)
		if err != nil {
			release(u, ents)
			return nil, nil, err
		}
		ents = append(ents, e)
		u.Register(s.fd, qid, e, uint64(i))
	}
	if err := u.RegisterError(qid); err != nil {
		release(u, ents)
		return nil, nil, err
	}
	return u, ents, nil
}

// answer serves the request completion c delivered and queues its
// reply with the fetch of the next request. It returns false when the
// completion is an error: the connection was aborted.
func (s *Server) answer(u *fuseuring.Ring, qid int, ents []*fuseuring.Entry, c *fuseuring.CQE, out []byte) bool {
	if c.Res < 0 || c.UserData >= uint64(len(ents)) {
		return false
	}
	e := ents[c.UserData]
	h := *e.InHeader()
	io := e.In()
	s.ring.Add(1)
	errno, n := serve(&h, trimNUL(e.Payload[:io.PayloadSz]), out)
	copy(e.Payload, out[:n])
	putOut(e.Header, h.Unique, errno, n)
	io.PayloadSz = uint32(n)
	u.CommitAndFetch(s.fd, qid, e, c.UserData)
	return true
}
