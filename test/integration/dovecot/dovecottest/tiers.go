package dovecottest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Tier names used by the test configuration.
const (
	TierTmp  = "tmp"
	TierFast = "fast"
	TierSlow = "slow"
)

// Subtrees are the top-level directories of the preset Dovecot layout.
var Subtrees = []string{"volatile", "listindex", "index", "mail"}

// Tiers are the backing directories of a Storage, by tier name.
type Tiers struct {
	Tmpfs string // a tmpfs mounted for this storage only
	Tmp   string // the tmp tier's root, a directory inside Tmpfs
	Fast  string
	Slow  string
}

// Dir returns the root of the named tier.
func (t Tiers) Dir(name string) string {
	switch name {
	case TierTmp:
		return t.Tmp
	case TierFast:
		return t.Fast
	case TierSlow:
		return t.Slow
	}
	return ""
}

// Names lists the tier names in rule-priority order.
func (t Tiers) Names() []string { return []string{TierTmp, TierFast, TierSlow} }

func newTiers(dir string) (Tiers, error) {
	t := Tiers{
		Tmpfs: filepath.Join(dir, "tmpfs"),
		Fast:  filepath.Join(dir, "fast"),
		Slow:  filepath.Join(dir, "slow"),
	}
	t.Tmp = filepath.Join(t.Tmpfs, "tier")
	for _, d := range []string{t.Tmpfs, t.Fast, t.Slow} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return t, fmt.Errorf("tier dir: %w", err)
		}
	}
	return t, nil
}

// mountTmpfs mounts a fresh, empty tmpfs on t.Tmpfs.
func (t Tiers) mountTmpfs(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size=1g,mode=0755",
		"dovecottest", t.Tmpfs).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w: %s", t.Tmpfs, err, out)
	}
	return nil
}

// unmountTmpfs unmounts t.Tmpfs, lazily if it is busy.
func (t Tiers) unmountTmpfs() error {
	return unmount(t.Tmpfs)
}

// unmount detaches the filesystem mounted on dir; if it stays busy it is
// detached lazily so a failed test never leaves a mount behind.
func unmount(dir string) error {
	var err error
	for range 50 {
		if err = unix.Unmount(dir, 0); err == nil || err == unix.EINVAL || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY {
			break
		}
		sleepShort()
	}
	if lazyErr := unix.Unmount(dir, unix.MNT_DETACH); lazyErr != nil && lazyErr != unix.EINVAL {
		return fmt.Errorf("unmount %s: %w (lazy: %v)", dir, err, lazyErr)
	}
	return fmt.Errorf("unmount %s: %w (detached lazily)", dir, err)
}
