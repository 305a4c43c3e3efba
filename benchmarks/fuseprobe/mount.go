package fuseprobe

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fuseuring"
)

// Transport is how a probe mount is served.
type Transport string

const (
	// GoFUSE serves through go-fuse's server and node API, as tierfs does.
	GoFUSE Transport = "gofuse"
	// Dev serves with a bare loop of read(2) and write(2) on /dev/fuse.
	Dev Transport = "dev"
	// IOURing serves FUSE over io_uring: one queue per CPU, each served
	// by a thread pinned to its CPU, so a request is answered on the
	// CPU that sent it.
	IOURing Transport = "uring"
)

// Transports lists every transport, go-fuse first.
func Transports() []Transport { return []Transport{GoFUSE, Dev, IOURing} }

// Server is a mounted probe.
type Server struct {
	mnt    string
	fd     int
	gofuse *fuse.Server
	loops  sync.WaitGroup
	// Requests answered over /dev/fuse and over io_uring.
	dev, ring atomic.Int64
}

// Mount mounts the probe's filesystem at mnt, served by t; readers is
// the number of threads reading /dev/fuse (Dev, and for IOURing the
// requests that do not go through the rings).
func Mount(mnt string, t Transport, readers int) (*Server, error) {
	switch t {
	case GoFUSE:
		return mountGoFUSE(mnt)
	case Dev, IOURing:
	default:
		return nil, fmt.Errorf("fuseprobe: unknown transport %q (have gofuse, dev, uring)", t)
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fuseprobe: %w", err)
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", fd)
	if err := unix.Mount("fuseprobe", mnt, "fuse.fuseprobe", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fuseprobe: mount %s: %w", mnt, err)
	}
	s := &Server{mnt: mnt, fd: fd}
	if err := s.start(t == IOURing, readers); err != nil {
		s.Unmount()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(withRing bool, readers int) error {
	if err := s.init(withRing); err != nil {
		return err
	}
	if withRing {
		if err := s.startRings(); err != nil {
			return err
		}
	}
	for range max(readers, 1) {
		s.loops.Add(1)
		go s.devLoop()
	}
	return nil
}

// init answers the kernel's INIT, asking for io_uring if withRing.
func (s *Server) init(withRing bool) error {
	buf := make([]byte, inHeaderSize+maxWrite+4096)
	n, err := unix.Read(s.fd, buf)
	if err != nil {
		return fmt.Errorf("fuseprobe: read INIT: %w", err)
	}
	in := (*fuse.InitIn)(unsafe.Pointer(&buf[0]))
	if in.Opcode != opInit || n < inHeaderSize+16 {
		return fmt.Errorf("fuseprobe: first request has opcode %d, want INIT", in.Opcode)
	}
	if in.Major != 7 {
		return fmt.Errorf("fuseprobe: kernel speaks FUSE %d.%d, want 7.x", in.Major, in.Minor)
	}
	o := fuse.InitOut{Major: 7, Minor: in.Minor, MaxReadAhead: in.MaxReadAhead, Flags: fuse.CAP_INIT_EXT,
		MaxBackground: 12, CongestionThreshold: 9, MaxWrite: maxWrite, TimeGran: 1}
	if withRing {
		if in.Flags&fuse.CAP_INIT_EXT == 0 || in.Flags2&fuseuring.Flags2 == 0 {
			return fuseuring.ErrNotOffered
		}
		o.Flags2 = fuseuring.Flags2
	}
	size := int(unsafe.Sizeof(o))
	reply := make([]byte, outHeaderSize+size)
	putOut(reply, in.Unique, 0, size)
	copy(reply[outHeaderSize:], bytesOf(&o))
	if _, err := unix.Write(s.fd, reply); err != nil {
		return fmt.Errorf("fuseprobe: reply to INIT: %w", err)
	}
	return nil
}

// devLoop answers requests read from /dev/fuse until the mount is gone.
func (s *Server) devLoop() {
	defer s.loops.Done()
	buf := make([]byte, inHeaderSize+maxWrite+4096)
	out := make([]byte, outHeaderSize+256)
	for {
		n, err := unix.Read(s.fd, buf)
		if err == unix.EINTR || err == unix.ENOENT { // ENOENT: the request was interrupted
			continue
		}
		if err != nil { // ENODEV once unmounted
			return
		}
		h := (*fuse.InHeader)(unsafe.Pointer(&buf[0]))
		if noReply(h.Opcode) {
			continue
		}
		s.dev.Add(1)
		args := buf[inHeaderSize:n]
		k := min(opInSize(h.Opcode), len(args))
		e, m := serve(h, trimNUL(args[k:]), out[outHeaderSize:])
		putOut(out, h.Unique, e, m)
		unix.Write(s.fd, out[:outHeaderSize+m]) // fails only for an interrupted request
	}
}

// Served returns the number of requests answered over /dev/fuse and
// over io_uring since the mount (go-fuse's are not counted).
func (s *Server) Served() (dev, ring int64) { return s.dev.Load(), s.ring.Load() }

// Unmount unmounts the probe and waits for its threads to finish.
func (s *Server) Unmount() error {
	if s.gofuse != nil {
		return s.gofuse.Unmount()
	}
	var err error
	if unix.Unmount(s.mnt, 0) != nil { // busy: detach it instead
		if e := unix.Unmount(s.mnt, unix.MNT_DETACH); e != nil && e != unix.EINVAL {
			err = fmt.Errorf("fuseprobe: unmount %s: %w", s.mnt, e)
		}
	}
	done := make(chan struct{})
	go func() { s.loops.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return errors.Join(err, errors.New("fuseprobe: server threads still running 5 s after unmount"))
	}
	unix.Close(s.fd)
	return err
}
