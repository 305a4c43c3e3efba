package tiers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// resolveFlags confine every lookup to the tier: no escape by "..", no
// symlink in a directory component, no /proc magic links.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens rel (relative to the tier root, "" for the root
// itself) with openat2. The kernel answers EAGAIN when a concurrent
// rename raced the lookup; retry a few times.
func (t *Tier) openBeneath(rel string, flags int, mode uint32) (int, error) {
	if err := t.check(); err != nil {
		return -1, err
	}
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags}
	for range 8 {
		fd, err := unix.Openat2(t.root, rel, &how)
		if err != unix.EAGAIN {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

// parent opens the directory holding rel and returns it with rel's last
// component. The caller closes the descriptor.
func (t *Tier) parent(rel string) (int, string, error) {
	dir, base := split(rel)
	fd, err := t.openBeneath(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	return fd, base, err
}

// atParent runs fn with the parent directory of rel and rel's base name.
func (t *Tier) atParent(rel string, fn func(dirfd int, name string) error) error {
	if rel == "" {
		return unix.EINVAL
	}
	fd, name, err := t.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
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
