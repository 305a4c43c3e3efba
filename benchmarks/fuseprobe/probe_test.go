package fuseprobe

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
	"github.com/tierfs/tierfs/internal/fuseuring"
)

func TestABISizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"fuse_in_header", unsafe.Sizeof(fuse.InHeader{}), 40},
		{"fuse_out_header", unsafe.Sizeof(fuse.OutHeader{}), 16},
		{"fuse_attr", unsafe.Sizeof(fuse.Attr{}), 88},
		{"fuse_entry_out", unsafe.Sizeof(fuse.EntryOut{}), 128},
		{"fuse_attr_out", unsafe.Sizeof(fuse.AttrOut{}), 104},
		{"fuse_init_in", unsafe.Sizeof(fuse.InitIn{}) - unsafe.Sizeof(fuse.InHeader{}), 64}, // go-fuse's starts with the header
		{"fuse_init_out", unsafe.Sizeof(fuse.InitOut{}), 64},
	} {
		if tc.got != tc.want {
			t.Errorf("%s is %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestServe(t *testing.T) {
	out := make([]byte, 256)
	for _, tc := range []struct {
		name    string
		h       fuse.InHeader
		arg     string
		errno   unix.Errno
		size    int
		inode   uint64 // of the entry or attributes answered
		dirMode bool
	}{
		{"lookup f", fuse.InHeader{Opcode: opLookup, NodeId: 1}, "f", 0, 128, 2, false},
		{"lookup other", fuse.InHeader{Opcode: opLookup, NodeId: 1}, "g", unix.ENOENT, 0, 0, false},
		{"lookup below f", fuse.InHeader{Opcode: opLookup, NodeId: 2}, "f", unix.ENOENT, 0, 0, false},
		{"getattr root", fuse.InHeader{Opcode: opGetattr, NodeId: 1}, "", 0, 104, 1, true},
		{"getattr f", fuse.InHeader{Opcode: opGetattr, NodeId: 2}, "", 0, 104, 2, false},
		{"getxattr", fuse.InHeader{Opcode: opGetxattr, NodeId: 2}, probeXattr, unix.ENODATA, 0, 0, false},
		{"statfs", fuse.InHeader{Opcode: opStatfs, NodeId: 1}, "", 0, statfsOutSize, 0, false},
		{"mkdir", fuse.InHeader{Opcode: 9, NodeId: 1}, "d", unix.ENOSYS, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, n := serve(&tc.h, []byte(tc.arg), out)
			if e != tc.errno || (e == 0 && n != tc.size) {
				t.Fatalf("serve = %v, %d bytes; want %v, %d bytes", e, n, tc.errno, tc.size)
			}
			var a fuse.Attr
			switch tc.size {
			case 128:
				a = (*fuse.EntryOut)(unsafe.Pointer(&out[0])).Attr
			case 104:
				a = (*fuse.AttrOut)(unsafe.Pointer(&out[0])).Attr
			default:
				return
			}
			if a.Ino != tc.inode || (a.Mode&unix.S_IFMT == unix.S_IFDIR) != tc.dirMode {
				t.Errorf("answered inode %d mode %o, want inode %d (directory: %v)", a.Ino, a.Mode, tc.inode, tc.dirMode)
			}
		})
	}
}

func TestTransports(t *testing.T) {
	fusetest.Require(t)
	for _, tr := range Transports() {
		t.Run(string(tr), func(t *testing.T) {
			if tr == IOURing {
				fusetest.SetURing(t, true)
			}
			mnt := t.TempDir()
			s, err := Mount(mnt, tr, 2)
			if err != nil {
				t.Fatal(err)
			}
			mounted := true
			t.Cleanup(func() {
				if mounted {
					s.Unmount()
				}
			})
			var st unix.Stat_t
			f := filepath.Join(mnt, "f")
			if err := unix.Lstat(f, &st); err != nil || st.Ino != 2 || st.Mode != unix.S_IFREG|0o644 || st.Size != 0 {
				t.Fatalf("lstat f: %v, inode %d mode %o size %d; want inode 2, a 0644 file, empty", err, st.Ino, st.Mode, st.Size)
			}
			if err := unix.Lstat(filepath.Join(mnt, "g"), &st); err != unix.ENOENT {
				t.Errorf("lstat of a missing name: %v, want ENOENT", err)
			}
			rate, err := Rate(f, 100*time.Millisecond, 2)
			if err != nil || rate <= 0 {
				t.Fatalf("Rate = %v, %v", rate, err)
			}
			dev, ring := s.Served()
			switch tr {
			case Dev:
				if dev < int64(rate/10) || ring != 0 {
					t.Errorf("served %d over /dev/fuse and %d over io_uring at %.0f a second, want all over /dev/fuse", dev, ring, rate)
				}
			case IOURing:
				if ring < int64(rate/10) {
					t.Errorf("served %d over io_uring (%d over /dev/fuse) at %.0f a second, want the getxattr loop there", ring, dev, rate)
				}
			}
			mounted = false
			if err := s.Unmount(); err != nil {
				t.Fatal(err)
			}
			var sfs unix.Statfs_t
			if err := unix.Statfs(mnt, &sfs); err != nil || sfs.Type == unix.FUSE_SUPER_MAGIC {
				t.Errorf("after Unmount, %s is a FUSE mount (%v)", mnt, err)
			}
		})
	}
}

func TestMountWithoutIOURing(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, false)
	mnt := t.TempDir()
	s, err := Mount(mnt, IOURing, 1)
	if err == nil {
		s.Unmount()
		t.Fatal("Mount with io_uring off succeeded")
	}
	if !errors.Is(err, fuseuring.ErrNotOffered) {
		t.Fatalf("Mount = %v, want ErrNotOffered", err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(mnt, &sfs); err != nil || sfs.Type == unix.FUSE_SUPER_MAGIC {
		t.Errorf("a failed Mount left %s mounted (%v)", mnt, err)
	}
}
