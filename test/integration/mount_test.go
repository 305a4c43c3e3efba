package integration

import (
	"slices"
	"strings"
	"testing"
)

// Without --foreground, tierfs mount daemonizes and exits 0 once the mount
// is up; the kernel lists it as fuse.tierfs with the config file as source
// and, as root, allow_other together with default_permissions (without the
// latter any local user could read any mailbox).
func TestMountDaemonizes(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	t.Cleanup(func() { unmountPath(t, fx.mnt) })
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
