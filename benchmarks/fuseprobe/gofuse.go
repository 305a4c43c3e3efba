package fuseprobe

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// probeRoot is the go-fuse version of the probe's filesystem.
type probeRoot struct{ fs.Inode }

var _ = (fs.NodeOnAdder)((*probeRoot)(nil))

func (r *probeRoot) OnAdd(ctx context.Context) {
	f := r.NewPersistentInode(ctx, &probeFile{}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 2})
	r.AddChild("f", f, false)
}

type probeFile struct{ fs.Inode }

var (
	_ = (fs.NodeGetxattrer)((*probeFile)(nil))
	_ = (fs.NodeGetattrer)((*probeFile)(nil))
)

func (f *probeFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}

func (f *probeFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Attr = fuse.Attr{Ino: 2, Mode: syscall.S_IFREG | 0o644, Nlink: 1, Blksize: 4096}
	return 0
}

// mountGoFUSE serves the probe with go-fuse, mounted as tierfs mounts
// (allow_other, default_permissions, long timeouts).
func mountGoFUSE(mnt string) (*Server, error) {
	ttl := cacheSeconds * time.Second
	srv, err := fs.Mount(mnt, &probeRoot{}, &fs.Options{
		EntryTimeout: &ttl,
		AttrTimeout:  &ttl,
		MountOptions: fuse.MountOptions{
			AllowOther: true,
			FsName:     "fuseprobe",
			Name:       "fuseprobe",
			Options:    []string{"default_permissions"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("fuseprobe: go-fuse mount %s: %w", mnt, err)
	}
	return &Server{mnt: mnt, gofuse: srv}, nil
}
