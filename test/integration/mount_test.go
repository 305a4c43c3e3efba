package integration

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Without --foreground, tierfs mount daemonizes and exits 0 once the mount
// is up; the kernel lists it as fuse.tierfs with the config file as source
// and, as root, allow_other together with default_permissions (without the
// latter any local user could read any mailbox).
func TestMountDaemonizes(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	t.Cleanup(func() {
		unmountPath(t, fx.mnt)
		waitNoProcessWith(t, fx.cfgPath) // the daemon is not our child
	})
	out, err := fx.run("mount", "--config", fx.cfgPath, "--state-dir", fx.stateDir, fx.mnt)
	if err != nil {
		t.Fatalf("tierfs mount (daemonizing): %v\n%s", err, out)
	}
	var m *mountEntry
	for _, e := range mounts() {
		if e.point == fx.mnt {
			m = &e
		}
	}
	if m == nil {
		t.Fatalf("nothing mounted on %s after tierfs mount exited 0", fx.mnt)
	}
	if m.fstype != "fuse.tierfs" || m.source != fx.cfgPath {
		t.Errorf("mount is %s from %q, want fuse.tierfs from %q", m.fstype, m.source, fx.cfgPath)
	}
	opts := strings.Split(m.options, ",")
	for _, o := range []string{"allow_other", "default_permissions"} {
		if !slices.Contains(opts, o) {
			t.Errorf("mount options %v lack %s", opts, o)
		}
	}
	fx.mkdirAll(t, "volatile/x")
	fx.writeFile(t, "volatile/x/f", "daemonized")
	fx.requireOnTier(t, "volatile/x/f", "tmp")
}

// waitNoProcessWith waits until no process has arg on its command line, so
// a daemonized tierfs has let go of its tiers before they are unmounted.
func waitNoProcessWith(t testing.TB, arg string) {
	t.Helper()
	deadline := time.Now().Add(mountWait)
	for time.Now().Before(deadline) {
		if len(processesWith(arg)) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("processes %v with %s still running %v after unmount", processesWith(arg), arg, mountWait)
}

// processesWith lists the pids whose command line has arg as one argument.
func processesWith(arg string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}
