package fuseserver

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
	"github.com/tierfs/tierfs/internal/fuseuring"
)

// mountLoopback serves a go-fuse loopback of a new directory over
// io_uring and returns the backing directory, the mount and the server.
func mountLoopback(t *testing.T, root gofs.InodeEmbedder) (string, *Server, *rwCounter) {
	t.Helper()
	mnt := t.TempDir()
	s := New()
	long := time.Hour
	opts := &gofs.Options{
		EntryTimeout:    &long,
		AttrTimeout:     &long,
		NegativeTimeout: &long,
		ServerCallbacks: s,
		MountOptions:    fuse.MountOptions{Name: "fuseservertest", MaxWrite: 1 << 20, Options: []string{"default_permissions"}},
	}
	rw := &rwCounter{RawFileSystem: gofs.NewNodeFS(root, opts)}
	if err := s.Mount(rw, mnt, opts.MountOptions, 2); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		if isFUSE(mnt) {
			t.Errorf("%s still a FUSE mount after Unmount", mnt)
		}
	})
	return mnt, s, rw
}

// rwCounter counts the READs and WRITEs that reach the filesystem.
type rwCounter struct {
	fuse.RawFileSystem
	n atomic.Int64
}

func (c *rwCounter) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	c.n.Add(1)
	return c.RawFileSystem.Read(cancel, in, buf)
}

func (c *rwCounter) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	c.n.Add(1)
	return c.RawFileSystem.Write(cancel, in, data)
}

func isFUSE(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC
}

func newLoopback(t *testing.T) (gofs.InodeEmbedder, string) {
	backing := t.TempDir()
	root, err := gofs.NewLoopbackRoot(backing)
	if err != nil {
		t.Fatal(err)
	}
	return root, backing
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func TestLoopbackOverURing(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, true)
	root, backing := newLoopback(t)
	mnt, s, _ := mountLoopback(t, root)

	data := bytes.Repeat([]byte("tierfs "), 300_000) // 2 MiB: more than one request's payload
	p := filepath.Join(mnt, "a")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(backing, "a"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("backing file: %d bytes, %v; want the %d written", len(got), err, len(data))
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(data))
	}
	var st, bst unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	unix.Stat(filepath.Join(backing, "a"), &bst)
	if st.Ino != bst.Ino || st.Size != int64(len(data)) {
		t.Errorf("stat: ino %d size %d; want ino %d size %d", st.Ino, st.Size, bst.Ino, len(data))
	}
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, filepath.Join(mnt, "d", "b")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(mnt, "d"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "b" {
		t.Errorf("readdir d = %v, %v; want [b]", ents, err)
	}
	errnos := []struct {
		what string
		err  error
		want syscall.Errno
	}{
		{"stat of a missing name", errOnly(os.Stat(filepath.Join(mnt, "a"))), unix.ENOENT},
		{"getxattr of a missing attribute", errOnly(unix.Getxattr(filepath.Join(mnt, "d", "b"), "user.none", make([]byte, 64))), unix.ENODATA},
		{"rmdir of a full directory", os.Remove(filepath.Join(mnt, "d")), unix.ENOTEMPTY},
		{"exclusive create of a name that exists", errOnly(os.OpenFile(filepath.Join(mnt, "d", "b"), os.O_CREATE|os.O_EXCL, 0o644)), unix.EEXIST},
	}
	for _, tc := range errnos {
		if got := errnoOf(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	dev, ring := s.Served()
	if ring < 10 || dev > ring/4 {
		t.Errorf("served %d requests over /dev/fuse and %d over the rings; want nearly all over the rings", dev, ring)
	}
}

func errOnly[T any](_ T, err error) error { return err }

// Reads and writes of an open file go to the backing file without a
// request: passthrough works over the rings.
func TestPassthroughOverURing(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, true)
	root, backing := newLoopback(t)
	mnt, _, rw := mountLoopback(t, root)
	f, err := os.Create(filepath.Join(mnt, "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{7}, 64<<10)
	for range 32 {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if n := rw.n.Load(); n != 0 {
		t.Errorf("32 writes and a read of an open file sent %d READs and WRITEs; want none (passthrough)", n)
	}
	if fi, err := os.Stat(filepath.Join(backing, "p")); err != nil || fi.Size() != 32*64<<10 {
		t.Errorf("backing file: %v, %v; want 2 MiB", fi, err)
	}
}

// A name the kernel caches as missing appears once the entry is
// invalidated: notifications reach the kernel.
func TestNotifyOverURing(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, true)
	root, backing := newLoopback(t)
	mnt, _, _ := mountLoopback(t, root)
	p := filepath.Join(mnt, "late")
	if _, err := os.Stat(p); errnoOf(err) != unix.ENOENT {
		t.Fatalf("stat before: %v, want ENOENT", err)
	}
	if err := os.WriteFile(filepath.Join(backing, "late"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); errnoOf(err) != unix.ENOENT {
		t.Fatalf("stat with the negative entry cached: %v, want ENOENT", err)
	}
	if errno := root.EmbeddedInode().NotifyEntry("late"); errno != 0 {
		t.Fatalf("NotifyEntry: %v", errno)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("stat after NotifyEntry: %v", err)
	}
}

// slowNode's getattr waits for its request to be interrupted.
type slowNode struct {
	gofs.Inode
	entered, interrupted chan struct{}
}

func (n *slowNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n.EmbeddedInode().IsRoot() {
		out.Mode = fuse.S_IFDIR | 0o755
		return 0
	}
	close(n.entered)
	select {
	case <-ctx.Done():
		close(n.interrupted)
		return syscall.EINTR
	case <-time.After(10 * time.Second):
		return 0
	}
}

type slowRoot struct{ gofs.Inode }

func (r *slowRoot) OnAdd(ctx context.Context) {
	n := &slowNode{entered: make(chan struct{}), interrupted: make(chan struct{})}
	r.AddChild("slow", r.NewPersistentInode(ctx, n, gofs.StableAttr{Mode: fuse.S_IFREG, Ino: 2}), false)
}

// A caller killed while its request is in service interrupts it: the
// INTERRUPT arrives on /dev/fuse and cancels the request on the ring.
func TestInterruptOverURing(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, true)
	root := &slowRoot{}
	mnt, _, _ := mountLoopback(t, root)
	n := root.GetChild("slow").Operations().(*slowNode)
	cmd := exec.Command("stat", filepath.Join(mnt, "slow"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.entered:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("getattr never reached the node")
	}
	cmd.Process.Kill()
	cmd.Wait()
	select {
	case <-n.interrupted:
	case <-time.After(5 * time.Second):
		t.Fatal("the request was not interrupted within 5 s of killing its caller")
	}
}

// Many callers at once, on both CPUs, with every worker busy.
func TestConcurrentOverURing(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, true)
	root, _ := newLoopback(t)
	mnt, _, _ := mountLoopback(t, root)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := filepath.Join(mnt, "g", string(rune('a'+g)))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				errs <- err
				return
			}
			for i := range 100 {
				p := filepath.Join(dir, "f")
				want := []byte{byte(g), byte(i)}
				if err := os.WriteFile(p+".tmp", want, 0o644); err != nil {
					errs <- err
					return
				}
				if err := os.Rename(p+".tmp", p); err != nil {
					errs <- err
					return
				}
				if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
					errs <- errors.Join(err, errors.New("read "+p+": wrong content"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Without io_uring from the kernel, Mount fails and leaves nothing
// mounted.
func TestMountNotOffered(t *testing.T) {
	fusetest.Require(t)
	fusetest.SetURing(t, false)
	root, _ := newLoopback(t)
	mnt := t.TempDir()
	s := New()
	opts := &gofs.Options{ServerCallbacks: s, MountOptions: fuse.MountOptions{Name: "fuseservertest", MaxWrite: 1 << 20}}
	err := s.Mount(gofs.NewNodeFS(root, opts), mnt, opts.MountOptions, 1)
	if !errors.Is(err, fuseuring.ErrNotOffered) {
		t.Fatalf("Mount = %v, want ErrNotOffered", err)
	}
	if isFUSE(mnt) {
		t.Errorf("a failed Mount left %s mounted", mnt)
	}
}
