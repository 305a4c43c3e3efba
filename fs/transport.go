package fs

import (
	"errors"
	"fmt"
	"reflect"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/internal/fuseserver"
	"github.com/tierfs/tierfs/internal/fuseuring"
)

// Transport is how requests travel between the kernel and tierfs.
type Transport string

const (
	// TransportDev serves with go-fuse's server, reading /dev/fuse: the
	// default.
	TransportDev Transport = "dev"
	// TransportURing serves FUSE over io_uring queues, one per CPU, so
	// a request is answered on the CPU that sent it (Linux 6.14+, root,
	// the fuse module's enable_uring on).
	TransportURing Transport = "io_uring"
)

// ParseTransport checks a transport name.
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(s); t {
	case TransportDev, TransportURing:
		return t, nil
	}
	return "", fmt.Errorf("%q is not a transport (want dev or io_uring)", s)
}

// CheckTransport reports why t cannot be used on this kernel by a
// process that is root or not, before anything is mounted.
func CheckTransport(t Transport, root bool) error {
	if t != TransportURing {
		return nil
	}
	if !root {
		return errors.New("io_uring needs root")
	}
	if !fuseuring.Enabled() {
		return fmt.Errorf("%w: set it to Y, or load the module with enable_uring=1", fuseuring.ErrNotOffered)
	}
	return nil
}

// Server is a mount's connection to the kernel.
type Server interface {
	// Unmount unmounts and waits for the connection's end; a busy
	// mount stays and the error wraps EBUSY.
	Unmount() error
	// Wait returns when the filesystem has been unmounted.
	Wait()
}

// serve mounts raw at mountpoint: over ring when there is one, with
// go-fuse's server otherwise.
func serve(raw fuse.RawFileSystem, ring *fuseserver.Server, mountpoint string, mo fuse.MountOptions) (Server, error) {
	if ring != nil {
		if err := ring.Mount(raw, mountpoint, mo, 0); err != nil {
			return nil, err
		}
		return ring, nil
	}
	srv, err := fuse.NewServer(raw, mountpoint, &mo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		// The kernel may hold the mount already; left behind it would
		// answer ENOTCONN to everything below it.
		if uerr := srv.Unmount(); uerr != nil {
			// EINVAL: nothing is mounted there (the mount itself failed).
			if derr := syscall.Unmount(mountpoint, syscall.MNT_DETACH); derr != nil && derr != syscall.EINVAL {
				return nil, fmt.Errorf("mount %s: %w (and the failed mount could not be removed: %v)", mountpoint, err, derr)
			}
		}
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	return srv, nil
}

// pruneOver sends the pruner's FUSE_NOTIFY_PRUNE through ring: go-fuse's
// Inode.NotifyPrune only knows go-fuse's own server.
func pruneOver(ring *fuseserver.Server) func([]*gofs.Inode) syscall.Errno {
	return func(nodes []*gofs.Inode) syscall.Errno {
		ids, ok := nodeIDs(nodes)
		if !ok {
			return syscall.ENOSYS // the pruner falls back to entry invalidation
		}
		return syscall.Errno(ring.PruneNotify(ids))
	}
}

// nodeIDField is where go-fuse keeps an Inode's FUSE node ID, which it
// sets when it makes the Inode and never changes but does not export.
var nodeIDField, nodeIDFound = func() (reflect.StructField, bool) {
	f, ok := reflect.TypeFor[gofs.Inode]().FieldByName("nodeId")
	return f, ok && f.Type.Kind() == reflect.Uint64
}()

// nodeIDs returns the FUSE node IDs of nodes; false if a go-fuse upgrade
// renamed the field.
func nodeIDs(nodes []*gofs.Inode) ([]uint64, bool) {
	if !nodeIDFound {
		return nil, false
	}
	ids := make([]uint64, 0, len(nodes))
	for _, n := range nodes {
		ids = append(ids, reflect.ValueOf(n).Elem().FieldByIndex(nodeIDField.Index).Uint())
	}
	return ids, true
}
