package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"golang.org/x/sys/unix"
)

// tierXattr is the attribute a tierfs mount answers with the tier of a
// file, or the comma-separated tiers of a directory.
const tierXattr = "user.tierfs.tier"

// runWhere prints which tier holds each path. Symlinks are followed: the
// kernel does not ask a filesystem for user.* attributes of a symlink.
func runWhere(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("where")
	paths, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usageError{"where: want at least one PATH"}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	var errs []error
	for _, p := range paths {
		tier, err := whereIs(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", p, tier)
	}
	return errors.Join(errs...)
}

// whereIs reads the tier attribute of path.
func whereIs(path string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(path, tierXattr, buf)
		switch {
		case err == nil:
			return string(buf[:n]), nil
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
			return "", fmt.Errorf("%s: not in a tierfs mount (no %s attribute)", path, tierXattr)
		default:
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
}
