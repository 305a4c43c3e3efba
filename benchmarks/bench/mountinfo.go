package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// mountedAs returns the filesystem type mounted at dir, or "".
func mountedAs(dir string) (string, error) {
	ms, err := mountinfo.Read()
	if err != nil {
		return "", err
	}
	dir = filepath.Clean(dir)
	fstype := ""
	for _, m := range ms {
		if m.MountPoint == dir {
			fstype = m.FSType // the last one is on top
		}
	}
	return fstype, nil
}

// waitMounted polls until dir is mounted with fstype, the daemon exits
// (exited is closed), the context ends or timeout passes.
func waitMounted(ctx context.Context, dir, fstype string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := mountedAs(dir)
		if err != nil {
			return err
		}
		if got == fstype {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s daemon exited before %s was mounted", fstype, dir)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not mounted at %s after %v (found %q)", fstype, dir, timeout, got)
		}
	}
}

// unmount unmounts dir, falling back to a lazy unmount so that a wedged
// daemon never leaves the mount behind.
func unmount(dir string) error {
	out, err := exec.Command("umount", dir).CombinedOutput()
	if err == nil {
		return nil
	}
	first := fmt.Errorf("umount %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%w; umount -l: %v: %s", first, err, strings.TrimSpace(string(out)))
	}
	return nil
}
