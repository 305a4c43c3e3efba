package tiers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// resolveFlags confine every lookup to the tier: no escape by "..", no
// symlink in a directory component, no /proc magic links.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens rel (relative to the tier root, "" for the root
// itself): its directory comes from the cache, its last component is
// opened with openat2 beneath that directory.
func (t *Tier) openBeneath(rel string, flags int, mode uint32) (int, error) {
	if rel == "" {
		if err := t.check(); err != nil {
			return -1, err
		}
		return openat2(t.root, ".", flags, mode)
	}
	dir, base := split(rel)
	dfd, held, err := t.holdDir(dir)
	if err != nil {
		return -1, err
	}
	defer held.release()
	return openat2(dfd, base, flags, mode)
}

// openat2 opens rel beneath dirfd. The kernel answers EAGAIN when a
// concurrent rename raced the lookup; retry a few times.
func openat2(dirfd int, rel string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags}
	for range 8 {
		fd, err := unix.Openat2(dirfd, rel, &how)
		if err != unix.EAGAIN {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

// holdDir returns a descriptor of the directory dir ("" for the root)
// and the cache entry to release when done with it (nil for the root).
func (t *Tier) holdDir(dir string) (int, *cachedDir, error) {
	if err := t.check(); err != nil {
		return -1, nil, err
	}
	if dir == "" {
		return t.root, nil, nil
	}
	now := time.Now()
	d, gen := t.dirs.get(dir, now)
	if d != nil {
		return d.fd, d, nil
	}
	fd, err := openat2(t.root, dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, nil, err
	}
	d = t.dirs.add(dir, fd, gen, now)
	return d.fd, d, nil
}

// atParent runs fn with the parent directory of rel and rel's base name.
func (t *Tier) atParent(rel string, fn func(dirfd int, name string) error) error {
	if rel == "" {
		return unix.EINVAL
	}
	dir, name := split(rel)
	fd, held, err := t.holdDir(dir)
	if err != nil {
		return err
	}
	defer held.release()
	return fn(fd, name)
}

func split(rel string) (dir, base string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// mkdirAll creates an absolute directory path with its parents; it is
// only used for tmpfs tier roots, which tierfs owns.
func mkdirAll(path string, mode os.FileMode) error {
	err := os.MkdirAll(filepath.Clean(path), mode)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return err
}
