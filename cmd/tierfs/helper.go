package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// helperName is the name mount(8) runs for filesystem type fuse.tierfs.
const helperName = "mount.fuse.tierfs"

// isMountHelper reports whether tierfs was started as the mount helper.
func isMountHelper(argv0 string) bool { return filepath.Base(argv0) == helperName }

// helperArgs turns the arguments mount(8) passes a helper,
//
//	mount.fuse.tierfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t TYPE]
//
// into those of "tierfs mount --config SOURCE -o OPTIONS MOUNTPOINT".
// fake reports -f (mount(8) asked the helper to do everything but mount).
// -s (sloppy), -n (no mtab) and -v are accepted and ignored; -N (another
// mount namespace) is refused.
func helperArgs(args []string) (mountArgs []string, fake bool, err error) {
	var pos, opts []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t":
			if i+1 == len(args) {
				return nil, false, usageError{fmt.Sprintf("%s: %s needs an argument", helperName, a)}
			}
			i++
			if a == "-o" {
				opts = append(opts, args[i])
			} else if t := args[i]; t != "fuse.tierfs" && t != "tierfs" {
				return nil, false, usageError{fmt.Sprintf("%s: filesystem type %q is not fuse.tierfs", helperName, t)}
			}
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, a[2:])
		case a == "-N" || strings.HasPrefix(a, "-N"):
			return nil, false, usageError{fmt.Sprintf("%s: -N (mount in another namespace) is not supported", helperName)}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				switch c {
				case 's', 'n', 'v':
				case 'f':
					fake = true
				default:
					return nil, false, usageError{fmt.Sprintf("%s: unknown flag -%c (mount(8) passes -s, -f, -n, -v, -o, -t)", helperName, c)}
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, false, usageError{fmt.Sprintf("usage: %s CONFIG MOUNTPOINT [-o OPTIONS] (as mount(8) calls it; got %d arguments besides flags)", helperName, len(pos))}
	}
	mountArgs = []string{"--config", pos[0]}
	if len(opts) > 0 {
		mountArgs = append(mountArgs, "-o", strings.Join(opts, ","))
	}
	return append(mountArgs, pos[1]), fake, nil
}

// runHelper is main for mount.fuse.tierfs.
func runHelper(ctx context.Context, args []string, stdout io.Writer) error {
	margs, fake, err := helperArgs(args)
	if err != nil || fake {
		return err
	}
	return runMount(ctx, margs, stdout)
}
