package tiers

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"golang.org/x/sys/unix"
)

// MovingDir holds a tier's copies in progress. Everything in it is a
// temporary that a crash may leave behind; it is emptied at mount. It
// is per host on a shared tier (MovingName).
const MovingDir = ".tierfs-moving"

// SourceState is what a copy read from its source, to detect a change
// made while the copy ran.
type SourceState struct {
	Ino, Size    uint64
	Mtime, Ctime unix.Timespec
	Nlink        uint64
}

// StateOf extracts the fields that change when a file changes.
func StateOf(st *unix.Stat_t) SourceState {
	return SourceState{Ino: st.Ino, Size: uint64(st.Size), Mtime: st.Mtim, Ctime: st.Ctim, Nlink: uint64(st.Nlink)}
}

// ClearMoving removes temporaries left by this daemon's interrupted
// copies: files, and the empty directories a directory copy makes. On
// a shared tier other hosts' copies in progress are left alone.
func (t *Tier) ClearMoving() error {
	dir := t.MovingName()
	if err := t.Mkdir(dir, 0o700, nil); err != nil && err != unix.EEXIST {
		return fmt.Errorf("tier %q: create %s: %w", t.Name, dir, err)
	}
	ents, err := t.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if err := t.RemoveTemp(dir, d.Name); err != nil {
			return fmt.Errorf("tier %q: remove leftover %s/%s: %w", t.Name, dir, d.Name, err)
		}
	}
	return nil
}

// RemoveTemp removes the temporary name in dir, a directory of copies
// in progress (MovingDir of some host): a file, or the empty directory
// a directory copy makes (fs CopyDir).
func (t *Tier) RemoveTemp(dir, name string) error {
	err := t.Unlink(dir + "/" + name)
	if err == unix.EISDIR {
		err = t.Rmdir(dir + "/" + name)
	}
	return err
}

// Temp is a copy CopyToTemp made: its path on the destination tier and
// its inode number there.
type Temp struct {
	Path string
	Ino  uint64
}

// CopyToTemp copies regular file rel from src into a temporary on dst:
// data, mode, owner, xattrs and times, fsynced. It returns the temporary
// and the source's state when the copy began. Nothing visible changes;
// the caller renames the temporary into place.
func CopyToTemp(src, dst *Tier, rel string, extra map[string][]byte) (Temp, SourceState, error) {
	var state SourceState
	in, err := src.Open(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0, nil)
	if err != nil {
		return Temp{}, state, err
	}
	defer unix.Close(in)
	var st unix.Stat_t
	if err := unix.Fstat(in, &st); err != nil {
		return Temp{}, state, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Temp{}, state, fmt.Errorf("%s: not a regular file", rel)
	}
	state = StateOf(&st)
	tmp := Temp{Path: fmt.Sprintf("%s/%016x", dst.MovingName(), rand.Uint64())}
	out, err := dst.Open(tmp.Path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, nil)
	if err != nil {
		return Temp{}, state, err
	}
	err = fillCopy(in, out, src, rel, &st, extra)
	var ost unix.Stat_t
	if err == nil {
		err = unix.Fstat(out, &ost)
		tmp.Ino = ost.Ino
	}
	if cerr := unix.Close(out); err == nil {
		err = cerr
	}
	if err != nil {
		dst.Unlink(tmp.Path)
		return Temp{}, state, err
	}
	return tmp, state, nil
}

// fillCopy writes data, xattrs, owner, mode and times into out, then
// fsyncs it. Times go last: writing data would change them.
func fillCopy(in, out int, src *Tier, rel string, st *unix.Stat_t, extra map[string][]byte) error {
	if err := copyData(in, out, st.Size); err != nil {
		return fmt.Errorf("copy data: %w", err)
	}
	if err := copyXattrs(src, rel, out); err != nil {
		return fmt.Errorf("copy xattrs: %w", err)
	}
	for k, v := range extra {
		// tierfs's own bookkeeping goes where the tier can hold it: a
		// Linux NFS client holds user.* attributes at most.
		if err := unix.Fsetxattr(out, k, v, 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	if err := unix.Fchown(out, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(out, st.Mode&07777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, procFdPath(out), ts, 0); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return unix.Fsync(out)
}

// copyData copies size bytes, in the kernel where it can.
func copyData(in, out int, size int64) error {
	var off int64
	for off < size {
		n, err := unix.CopyFileRange(in, nil, out, nil, int(min(size-off, 1<<30)), 0)
		if err == unix.EXDEV || err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL {
			return copyByRead(in, out, off)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break // the source shrank; the commit check will see it
		}
		off += int64(n)
	}
	return nil
}

func copyByRead(in, out int, off int64) error {
	buf := make([]byte, 1<<20)
	for {
		n, err := unix.Pread(in, buf, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if _, err := unix.Pwrite(out, buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
	}
}

// copyXattrs copies the user and trusted attributes of rel on src.
func copyXattrs(src *Tier, rel string, out int) error {
	size, err := src.Listxattr(rel, nil)
	if err == unix.ENOTSUP || size == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	names := make([]byte, size*2)
	size, err = src.Listxattr(rel, names)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(string(bytes.TrimRight(names[:size], "\x00")), "\x00") {
		if !strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, "trusted.") {
			continue // security.* and system.* belong to the destination
		}
		if strings.HasPrefix(name, OwnXattrPrefix) {
			continue // tierfs's own: the caller passes what the copy needs
		}
		v, err := readXattr(src, rel, name)
		if err != nil {
			return err
		}
		if err := unix.Fsetxattr(out, name, v, 0); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func readXattr(t *Tier, rel, name string) ([]byte, error) {
	n, err := t.Getxattr(rel, name, nil)
	if err != nil {
		return nil, err
	}
	v := make([]byte, n)
	n, err = t.Getxattr(rel, name, v)
	return v[:n], err
}

// SameContent compares file rel on tiers a and b byte for byte.
func SameContent(a, b *Tier, rel string) (bool, error) {
	fa, err := a.Open(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0, nil)
	if err != nil {
		return false, err
	}
	defer unix.Close(fa)
	fb, err := b.Open(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0, nil)
	if err != nil {
		return false, err
	}
	defer unix.Close(fb)
	ra, rb := fdReader(fa), fdReader(fb)
	bufA, bufB := make([]byte, 256<<10), make([]byte, 256<<10)
	for {
		na, ea := io.ReadFull(ra, bufA)
		nb, eb := io.ReadFull(rb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

type fdReader int

func (f fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(f), p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

// ReadXattr reads attribute name of rel.
func (t *Tier) ReadXattr(rel, name string) ([]byte, error) { return readXattr(t, rel, name) }
