package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runInstall makes mount(8) able to mount fuse.tierfs: it links
// PREFIX/sbin/mount.fuse.tierfs (or DEST/mount.fuse.tierfs) to this
// binary. mount(8) looks for helpers in /sbin only, so the default
// prefix is "/". With --remove it takes the link away again.
func runInstall(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("install")
	prefix := fset.String("prefix", "/", "install under `dir`/sbin")
	dest := fset.String("dest", "", "directory to put the helper link in (default PREFIX/sbin)")
	remove := fset.Bool("remove", false, "remove the helper link instead")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"install: takes no arguments"}
	}
	dir := *dest
	if dir == "" {
		dir = filepath.Join(*prefix, "sbin")
	}
	link := filepath.Join(dir, helperName)
	if *remove {
		return removeHelper(link, stdout)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	if err := installLink(exe, link); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s -> %s\n", link, exe)
	return nil
}

// installLink points link at target, replacing an older link atomically
// but never a file that is not a symlink.
func installLink(target, link string) error {
	if fi, err := os.Lstat(link); err == nil && fi.Mode().Type() != os.ModeSymlink {
		return fmt.Errorf("install: %s exists and is not a symlink; remove it first", link)
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp%d", link, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

// removeHelper removes the helper link (only if it is a symlink).
func removeHelper(link string, stdout io.Writer) error {
	fi, err := os.Lstat(link)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "%s: not installed\n", link)
		return nil
	}
	if err != nil {
		return fmt.Errorf("install --remove: %w", err)
	}
	if fi.Mode().Type() != os.ModeSymlink {
		return fmt.Errorf("install --remove: %s is not a symlink; not removing it", link)
	}
	if err := os.Remove(link); err != nil {
		return fmt.Errorf("install --remove: %w", err)
	}
	fmt.Fprintf(stdout, "removed %s\n", link)
	return nil
}
