package fuseserver

import (
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FUSE opcodes this package looks at.
const (
	opForget      = 2
	opInit        = 26
	opInterrupt   = 36
	opBatchForget = 42
)

const outHeaderSize = int(unsafe.Sizeof(fuse.OutHeader{}))

// readDev reads one request from /dev/fuse, retrying where the kernel
// asks for it (a signal, or a request interrupted while being read).
func readDev(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		switch err {
		case unix.EINTR, unix.EAGAIN, unix.ENOENT:
			continue
		}
		return n, err // ENODEV once the connection is gone
	}
}

// devLoop serves what arrives on /dev/fuse until the connection is
// gone: FORGETs and INTERRUPTs, which never go through a ring, at once;
// anything else (sent before the rings were up) on its own goroutine,
// as it may take long.
func (s *Server) devLoop() {
	defer s.loops.Done()
	for {
		in := s.bufs.Get().(*[]byte)
		n, err := readDev(s.fd, *in)
		if err != nil {
			s.bufs.Put(in)
			return
		}
		switch (*fuse.InHeader)(unsafe.Pointer(&(*in)[0])).Opcode {
		case opForget, opBatchForget, opInterrupt:
			s.serveDev(in, n)
		default:
			s.loops.Add(1) // Wait must not close the descriptor under it
			go func() {
				defer s.loops.Done()
				s.serveDev(in, n)
			}()
		}
	}
}

// serveDev answers the request in (*in)[:n] and recycles its buffer.
func (s *Server) serveDev(in *[]byte, n int) {
	defer s.bufs.Put(in)
	out := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(out)
	unique := (*fuse.InHeader)(unsafe.Pointer(&(*in)[0])).Unique
	m, st := s.ps.HandleRequest([][]byte{(*in)[:n]}, [][]byte{*out})
	if !st.Ok() {
		m = putError(*out, unique, st)
	}
	if m == 0 {
		return // FORGET, INTERRUPT: no reply
	}
	s.dev.Add(1)
	// A write fails only for a request interrupted meanwhile (ENOENT)
	// or a connection that is gone.
	unix.Write(s.fd, (*out)[:m])
}

// putError writes an error reply's header into out and returns its size.
func putError(out []byte, unique uint64, st fuse.Status) int {
	*(*fuse.OutHeader)(unsafe.Pointer(&out[0])) = fuse.OutHeader{
		Length: uint32(outHeaderSize), Status: -int32(st), Unique: unique,
	}
	return outHeaderSize
}
