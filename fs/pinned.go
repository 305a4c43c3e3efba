package fs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// pinnedDirs lists the directories inside the mount at mountpoint that
// the kernel holds for reasons FUSE never hears of: a process's working
// or root directory, and mount points. FUSE_NOTIFY_INVAL_ENTRY unhashes a
// dentry even while it is in use, so pruning one of these would make
// getcwd() fail there (until the path is looked up again) or detach the
// mount. Paths are relative to the mount, "" for its root. Processes
// that vanish while being read are skipped.
func pinnedDirs(mountpoint string) map[string]bool {
	pins := map[string]bool{}
	add := func(p string) {
		if rel, ok := inside(strings.TrimSuffix(p, " (deleted)"), mountpoint); ok {
			pins[rel] = true
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		for _, l := range []string{"cwd", "root"} {
			if p, err := os.Readlink(filepath.Join("/proc", e.Name(), l)); err == nil {
				add(p)
			}
		}
	}
	if ms, err := mountinfo.Read(); err == nil {
		for _, m := range ms {
			add(m.MountPoint)
		}
	}
	return pins
}

// inside returns p relative to mountpoint, if p is mountpoint or lies
// beneath it.
func inside(p, mountpoint string) (string, bool) {
	if p == mountpoint {
		return "", true
	}
	rel, ok := strings.CutPrefix(p, strings.TrimSuffix(mountpoint, "/")+"/")
	return rel, ok
}

// canonical resolves symlinks in the directories above mountpoint, as
// the kernel spells paths in /proc. The mount point itself is not
// resolved: it is this filesystem's root.
func canonical(mountpoint string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(mountpoint))
	if err != nil {
		return mountpoint
	}
	return filepath.Join(dir, filepath.Base(mountpoint))
}
