package slowfs

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// DefaultDelay is the metadata round trip of the emulation: a LAN NFS
// server with a warm cache answers GETATTR/LOOKUP in about 100–500 µs.
const DefaultDelay = 250 * time.Microsecond

// Options configure one slowfs mount.
type Options struct {
	// Delay is added to every metadata call (lookup, getattr and statx,
	// setattr, create and tmpfile, mknod, mkdir, symlink, link, unlink,
	// rmdir, rename, open, opendir, each READDIR batch, readlink, statfs,
	// xattr calls).
	Delay time.Duration
	// FsyncDelay is added to fsync and fsyncdir (an NFS COMMIT).
	FsyncDelay time.Duration
	// AttrTimeout and EntryTimeout are the kernel's caching of
	// attributes and names, standing in for the NFS client's attribute
	// cache; NegativeTimeout caches missing names.
	AttrTimeout, EntryTimeout, NegativeTimeout time.Duration
	// Passthrough lets reads and writes bypass the daemon. It is off by
	// default: a FUSE mount that negotiates passthrough gets a stacking
	// depth of 1, and an upper FUSE filesystem (tierfs) with the default
	// maximum depth of 1 is then refused passthrough for files on it —
	// go-fuse turns passthrough off for that whole mount after one
	// refusal. Without passthrough, data goes through this daemon and the
	// kernel page cache, which is also how an NFS client moves data.
	Passthrough bool
	// UserXattrsOnly refuses extended attributes outside the user.
	// namespace with EOPNOTSUPP, at once, as the Linux NFS client does
	// (NFSv4.2 carries user.* only; NFSv3 carries none): a tier on real
	// NFS cannot hold trusted.* or security.* attributes.
	UserXattrsOnly bool
	// ClockOffset is how far the emulated server's clock is ahead of
	// this host's (negative: behind). The server stamps the times of
	// files with its clock, as an NFS server does: times it reports are
	// shifted by the offset, times a client sets explicitly are kept as
	// set.
	ClockOffset time.Duration
	// Debug logs every FUSE request.
	Debug bool
}

// DefaultOptions returns the options used when nothing is set.
func DefaultOptions() Options {
	return Options{
		Delay:        DefaultDelay,
		FsyncDelay:   DefaultDelay,
		AttrTimeout:  time.Second,
		EntryTimeout: time.Second,
		// An NFS client caches missing names too (lookupcache=all, the
		// default). It sends no LOOKUP at all for an exclusive create,
		// where FUSE asks again (as for a rename target) whatever it
		// holds; that extra round trip stays.
		NegativeTimeout: time.Second,
	}
}

// Server is a mounted slowfs.
type Server struct {
	*fuse.Server
	d *delayer
}

// Counts returns the number of delayed calls per operation since mount.
func (s *Server) Counts() map[string]uint64 { return s.d.Counts() }

// Mount serves backing at mountpoint. The caller must Unmount.
func Mount(backing, mountpoint string, o Options) (*Server, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, fmt.Errorf("slowfs: backing directory %s: %w", backing, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil, fmt.Errorf("slowfs: backing %s: %w", backing, syscall.ENOTDIR)
	}
	d := &delayer{meta: o.Delay, fsync: o.FsyncDelay}
	rd := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev)}
	root := &node{LoopbackNode: &fs.LoopbackNode{RootData: rd}, d: d, userXattrs: o.UserXattrsOnly, clock: serverClock{o.ClockOffset}}
	rd.RootNode = root

	mo := fuse.MountOptions{
		FsName:             "slowfs:" + backing,
		Name:               "slowfs",
		Debug:              o.Debug,
		DisableReadDirPlus: true, // one LOOKUP per stat, like NFS READDIR
	}
	if !o.Passthrough {
		mo.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	if os.Geteuid() == 0 {
		// Dovecot's mail processes run as another user.
		mo.AllowOther = true
		mo.Options = []string{"default_permissions"}
		mo.DirectMountStrict = true
	}
	fo := &fs.Options{
		MountOptions:    mo,
		AttrTimeout:     &o.AttrTimeout,
		EntryTimeout:    &o.EntryTimeout,
		NegativeTimeout: &o.NegativeTimeout,
	}
	srv, err := fs.Mount(mountpoint, root, fo)
	if err != nil {
		return nil, fmt.Errorf("slowfs: mount %s: %w", mountpoint, err)
	}
	return &Server{Server: srv, d: d}, nil
}
