package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Check looks at the disk before mounting at mountpoint: the mount point
// is a directory (or a stale FUSE mount to mount over), every local and
// nfs tier path is an existing directory, a tmpfs tier path exists or its
// parent does (tmpfs tiers are created at mount), no two tiers are one
// directory (by path after resolving symlinks, and by device and inode, so
// bind mounts are caught), no tier lies inside another, and the mount
// point and the tiers do not contain each other (after resolving the
// mount point's symlinks, its own included). An empty mountpoint skips
// the mount point checks (for `tierfs init`). All problems are reported
// together, each a *FieldError.
func (c *Config) Check(mountpoint string) error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Source: c.Source, Field: field, Err: fmt.Errorf(format, args...)})
	}
	resolved := make([]resolvedTier, len(c.Tiers))
	for i, t := range c.Tiers {
		r, err := resolveTier(t)
		if err != nil {
			fail(fmt.Sprintf("tier[%d].path", i+1), "%w", err)
		}
		if err := checkTierSpace(t, r); err != nil {
			fail(fmt.Sprintf("tier[%d].target_free", i+1), "%w", err)
		}
		resolved[i] = r
	}
	for i := range resolved {
		for j := range i {
			checkPair(fail, i, j, c.Tiers, resolved)
		}
	}
	if mountpoint != "" {
		c.checkMountpoint(fail, mountpoint, resolved)
	}
	return errors.Join(errs...)
}

// checkTierSpace compares min_free and target_free on the capacity of a
// tier that exists.
func checkTierSpace(t Tier, r resolvedTier) error {
	if r.st == nil || t.TargetFree.IsZero() {
		return nil
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(t.Path, &fs); err != nil {
		return nil // resolveTier has reported what is wrong with the path
	}
	return t.checkSpace(fs.Blocks * uint64(fs.Bsize))
}

// resolvedTier is a tier path with symlinks resolved; st is nil when the
// path does not exist (yet).
type resolvedTier struct {
	path string
	st   *syscall.Stat_t
}

func resolveTier(t Tier) (resolvedTier, error) {
	fi, err := os.Stat(t.Path)
	switch {
	case err == nil && !fi.IsDir():
		return resolvedTier{}, fmt.Errorf("%q is not a directory", t.Path)
	case err == nil:
		p, err := filepath.EvalSymlinks(t.Path)
		if err != nil {
			return resolvedTier{}, fmt.Errorf("resolve %q: %w", t.Path, err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		return resolvedTier{path: p, st: st}, nil
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return resolvedTier{}, fmt.Errorf("%q: %w", t.Path, err)
	case t.Kind != KindTmpfs:
		return resolvedTier{}, fmt.Errorf("%q does not exist (create it, then run `tierfs init`)", t.Path)
	}
	// A tmpfs tier is created at mount: its parent must exist.
	parent := filepath.Dir(t.Path)
	fi, err = os.Stat(parent)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return resolvedTier{}, fmt.Errorf("%q does not exist and neither does its parent %q", t.Path, parent)
	case err == nil && !fi.IsDir(), errors.Is(err, syscall.ENOTDIR):
		return resolvedTier{}, fmt.Errorf("parent %q of %q is not a directory", parent, t.Path)
	case err != nil:
		return resolvedTier{}, fmt.Errorf("parent of %q: %w", t.Path, err)
	}
	p, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return resolvedTier{}, fmt.Errorf("resolve %q: %w", parent, err)
	}
	return resolvedTier{path: filepath.Join(p, filepath.Base(t.Path))}, nil
}

// checkPair reports tier i against an earlier tier j.
func checkPair(fail failFunc, i, j int, tiers []Tier, r []resolvedTier) {
	a, b := r[i], r[j]
	if a.path == "" || b.path == "" {
		return // already reported
	}
	field := fmt.Sprintf("tier[%d].path", i+1)
	other := fmt.Sprintf("tier[%d] %q (%q)", j+1, tiers[j].Name, tiers[j].Path)
	switch {
	case a.path == b.path:
		fail(field, "%q is the same directory as %s", tiers[i].Path, other)
	case a.st != nil && b.st != nil && a.st.Dev == b.st.Dev && a.st.Ino == b.st.Ino:
		fail(field, "%q is the same directory as %s (same device and inode: a bind mount?)", tiers[i].Path, other)
	case inside(a.path, b.path):
		fail(field, "%q is inside %s", tiers[i].Path, other)
	case inside(b.path, a.path):
		fail(field, "%q contains %s", tiers[i].Path, other)
	}
}

// checkMountpoint reports a mount point that is not a directory, or
// that is or contains a tier, or lies inside one (also through
// symlinks, the mount point's own included).
func (c *Config) checkMountpoint(fail failFunc, mountpoint string, r []resolvedTier) {
	if !filepath.IsAbs(mountpoint) {
		fail("mount point", "%q is not an absolute path", mountpoint)
		return
	}
	mp, st, err := resolveMountpoint(filepath.Clean(mountpoint))
	if err != nil {
		fail("mount point", "%q %w", mountpoint, err)
	}
	for i, t := range r {
		if t.path == "" {
			continue
		}
		field := fmt.Sprintf("tier[%d].path", i+1)
		switch {
		case t.path == mp:
			fail(field, "%q is the mount point", c.Tiers[i].Path)
		case st != nil && t.st != nil && st.Dev == t.st.Dev && st.Ino == t.st.Ino:
			fail(field, "%q is the mount point %q (same device and inode)", c.Tiers[i].Path, mountpoint)
		case inside(t.path, mp):
			fail(field, "%q is inside the mount point %q", c.Tiers[i].Path, mountpoint)
		case inside(mp, t.path):
			fail("mount point", "%q is inside tier[%d] %q (%q)", mountpoint, i+1, c.Tiers[i].Name, c.Tiers[i].Path)
		}
	}
}

// resolveMountpoint returns the clean, absolute mount point mp with its
// symlinks resolved and its stat, and why it cannot be mounted on. A
// stale FUSE mount left by a crash (ENOTCONN) may be mounted over; no
// lookup of it succeeds, so it is resolved by its path alone and has
// no stat.
func resolveMountpoint(mp string) (string, *syscall.Stat_t, error) {
	fi, err := os.Stat(mp)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return resolveStale(mp), nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return resolveStale(mp), nil, errors.New("does not exist")
	case err != nil:
		return resolveStale(mp), nil, fmt.Errorf("cannot be used: %w", err)
	}
	p, err := filepath.EvalSymlinks(mp)
	if err != nil {
		return resolveStale(mp), nil, fmt.Errorf("cannot be resolved: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() {
		return p, st, errors.New("is not a directory")
	}
	return p, st, nil
}

// resolveStale resolves the symlinks of path p without looking up its
// final target, which fails on a stale mount: the parent is resolved,
// and a symlink in the last component is followed by reading it.
func resolveStale(p string) string {
	for range 40 { // the kernel's own limit on symlinks in one lookup
		if parent, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			p = filepath.Join(parent, filepath.Base(p))
		}
		target, err := os.Readlink(p)
		if err != nil {
			return p // not a symlink, or nothing to read: p is final
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = filepath.Clean(target)
	}
	return p
}

// inside reports whether path p lies strictly below dir; both are clean
// and absolute.
func inside(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}
