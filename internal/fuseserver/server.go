// Package fuseserver serves a go-fuse RawFileSystem (such as the one
// fs.NewNodeFS builds) on a FUSE mount of its own, over FUSE io_uring
// queues: one queue per possible CPU, each served by threads pinned to
// that CPU, so a request is answered on the CPU that sent it without a
// read(2) and a write(2) on /dev/fuse. For a request that costs the
// server nothing this answers two to three times as many round trips a
// second as go-fuse's server (benchmarks/fuseprobe); how much a real
// filesystem gains depends on how much of a request's time is its own.
//
// Decoding and dispatch are go-fuse's (fuse.ProtocolServer); this
// package owns the mount, the INIT exchange, the rings, the /dev/fuse
// readers for what the kernel never sends over a ring (FORGET,
// INTERRUPT, and requests sent before the rings are up) and the
// notifications go-fuse's node API sends through fs.ServerCallbacks.
package fuseserver

import (
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fuseuring"
)

// DefaultWorkers is how many threads serve each CPU's queue. A request
// holds its thread until answered, so this is how many requests from
// one CPU can be in service at once (a slow backend call holds only
// its own).
const DefaultWorkers = 4

// devReaders is how many threads read /dev/fuse. Once the rings are up
// only FORGETs and INTERRUPTs arrive there.
const devReaders = 2

// Server is a mount served over io_uring.
type Server struct {
	mnt     string
	fd      int
	ps      *fuse.ProtocolServer
	logf    func(format string, args ...any)
	payload int    // the largest request or reply payload
	minor   uint32 // the kernel's FUSE minor version
	workers int
	threads int // ring threads started
	loops   sync.WaitGroup
	bufs    sync.Pool
	closed  sync.Once
	// Requests answered over /dev/fuse and over the rings.
	dev, ring atomic.Int64
}

// New returns an unmounted server. It is the fs.ServerCallbacks of the
// node tree it will serve, so it exists before the tree; Mount mounts it.
func New() *Server { return &Server{fd: -1} }

// Mount mounts fsys at mountpoint with opts (as go-fuse's direct mount
// does; it needs root) and serves it with workers threads per CPU (0:
// DefaultWorkers). It returns once the kernel has agreed to io_uring and
// every queue's workers have registered, or an error with nothing left
// mounted: fuseuring.ErrNotOffered when the kernel does not offer
// io_uring. Once INIT is answered the mount is served whatever happens
// to the rings: requests the kernel cannot put on a ring come through
// /dev/fuse.
func (s *Server) Mount(fsys fuse.RawFileSystem, mountpoint string, opts fuse.MountOptions, workers int) error {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	s.workers = workers
	opts.ExtraCapabilities |= fuse.CAP_OVER_IO_URING
	if opts.Logger == nil {
		opts.Logger = log.Default()
	}
	s.logf = opts.Logger.Printf
	s.ps = fuse.NewProtocolServer(fsys, &opts)
	fd, err := mountDirect(mountpoint, &opts)
	if err != nil {
		return fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	s.mnt, s.fd = mountpoint, fd
	if err := s.start(opts.MaxWrite); err != nil {
		s.abort()
		return fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	return nil
}

func (s *Server) start(maxWrite int) error {
	out, err := s.init(maxWrite)
	if err != nil {
		return err
	}
	if out.Flags2&fuseuring.Flags2 == 0 {
		return fuseuring.ErrNotOffered
	}
	page := os.Getpagesize()
	s.payload = max(int(out.MaxWrite), int(out.MaxPages)*page, 32*page)
	s.bufs.New = func() any { b := make([]byte, s.payload+4096); return &b }
	for range devReaders {
		s.loops.Add(1)
		go s.devLoop()
	}
	s.startQueues()
	s.pollHack()
	return nil
}

// init answers the kernel's INIT, the first request of every mount, and
// returns the reply: what was agreed.
func (s *Server) init(maxWrite int) (fuse.InitOut, error) {
	var out fuse.InitOut
	in := make([]byte, maxWrite+64<<10)
	n, err := readDev(s.fd, in)
	if err != nil {
		return out, fmt.Errorf("read INIT: %w", err)
	}
	h := (*fuse.InHeader)(unsafe.Pointer(&in[0]))
	if n < int(unsafe.Sizeof(*h)) || h.Opcode != opInit {
		return out, fmt.Errorf("first request has opcode %d, want INIT", h.Opcode)
	}
	s.minor = (*fuse.InitIn)(unsafe.Pointer(&in[0])).Minor
	reply := make([]byte, outHeaderSize+int(unsafe.Sizeof(out)))
	m, st := s.ps.HandleRequest([][]byte{in[:n]}, [][]byte{reply})
	if !st.Ok() {
		return out, fmt.Errorf("answer INIT: %w", syscall.Errno(st))
	}
	oh := (*fuse.OutHeader)(unsafe.Pointer(&reply[0]))
	if oh.Status != 0 {
		return out, fmt.Errorf("INIT refused: %w", syscall.Errno(-oh.Status))
	}
	if _, err := unix.Write(s.fd, reply[:m]); err != nil {
		return out, fmt.Errorf("reply to INIT: %w", err)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out)), unsafe.Sizeof(out)), reply[outHeaderSize:m])
	return out, nil
}

// Served reports how many requests were answered over /dev/fuse and
// over the rings since the mount.
func (s *Server) Served() (dev, ring int64) { return s.dev.Load(), s.ring.Load() }

// Threads is how many threads serve the rings.
func (s *Server) Threads() int { return s.threads }

// Unmount unmounts the filesystem and waits until its threads are done.
// A busy mount is left mounted and the error wraps EBUSY.
func (s *Server) Unmount() error {
	if err := unix.Unmount(s.mnt, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", s.mnt, err)
	}
	s.Wait()
	return nil
}

// Wait returns when the filesystem is unmounted and its threads are done.
func (s *Server) Wait() {
	s.loops.Wait()
	s.closed.Do(func() { unix.Close(s.fd) })
}

// abort takes down a mount that failed to start.
func (s *Server) abort() {
	if err := unix.Unmount(s.mnt, 0); err != nil {
		unix.Unmount(s.mnt, unix.MNT_DETACH)
	}
	s.Wait() // the unmount ended the connection, and so the threads
}
