package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// plantLeftovers puts a move temporary into .tierfs-moving on every
// tier, as a daemon does mid-move, and returns their paths.
func plantLeftovers(t *testing.T, f *fixture) []string {
	t.Helper()
	var out []string
	for _, tier := range f.order {
		p := f.tierPath(tier, ".tierfs-moving/x.tmp")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("in flight"), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func requireExist(t *testing.T, what string, paths []string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// A second daemon on tiers that one already serves, at the same mount
// point or another, is refused before it touches the tiers: the first
// daemon's move temporaries survive and its mount keeps serving.
func TestOpsSecondDaemonRefused(t *testing.T) {
	f := mountTierfs(t, defaultConfig())
	leftovers := plantLeftovers(t, f)
	pid := "pid " + strconv.Itoa(f.d.cmd.Process.Pid)
	other := filepath.Join(f.base, "mnt2")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		mp         string
		foreground bool
		want       []string
	}{
		{"same mount point", f.mnt, true, []string{f.mnt, "already a tierfs mount"}},
		{"same mount point daemonized", f.mnt, false, []string{f.mnt, "already a tierfs mount"}},
		{"other mount point", other, true, []string{`tier "tmp"`, "in use by another tierfs", pid}},
		{"other mount point daemonized", other, false, []string{`tier "tmp"`, "in use by another tierfs", pid}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			mountRefusedAt(t, f, tt.mp, tt.foreground, tt.want...)
			requireExist(t, "the serving daemon's move temporary is gone", leftovers)
			rel := "after-" + strings.ReplaceAll(tt.name, " ", "-")
			f.writeFile(t, rel, "still served")
			mustContent(t, f.path(rel), "still served")
		})
	}
	if !isTierfsMount(f.mnt) || f.d.exited() {
		t.Errorf("the first daemon's mount is gone (exited: %v)", f.d.exited())
	}
}

// check --repair is refused while a daemon serves the tiers even when
// the mount table does not name the config (mounted with another
// fsname), and removes nothing; plain check still reports.
func TestOpsCheckRepairRefusedWhileServed(t *testing.T) {
	f := newFixture(t, defaultConfig())
	f.opts = append(f.opts, "fsname=mailstore")
	f.mount(t)
	if m, _ := mountAt(f.mnt); m.source != "mailstore" {
		t.Fatalf("premise: the mount's source is %q, want mailstore", m.source)
	}
	leftovers := plantLeftovers(t, f)
	out, failed := mvCheck(t, f, "--config", f.cfgPath, "--repair")
	if !failed || !strings.Contains(out, "in use by another tierfs") || !strings.Contains(out, "unmount it first") {
		t.Errorf("check --repair on served tiers: failed=%v\n%s", failed, out)
	}
	requireExist(t, "check --repair removed a live move temporary", leftovers)
	out, failed = mvCheck(t, f, "--config", f.cfgPath)
	if !failed || !strings.Contains(out, "leftover: fast:.tierfs-moving/x.tmp") {
		t.Errorf("plain check on served tiers should report the temporaries: failed=%v\n%s", failed, out)
	}
	f.unmount(t)
	out, _ = mvCheck(t, f, "--config", f.cfgPath, "--repair")
	if !strings.Contains(out, "[repaired: removed]") {
		t.Errorf("check --repair once unmounted:\n%s", out)
	}
}

// A mount point that is a symlink into a tier is refused as the path
// itself would be, and one that is a regular file is refused before
// mounting: the error names it and nothing is left mounted.
func TestOpsMountpointRefused(t *testing.T) {
	cfg := defaultConfig()
	f := newFixture(t, cfg)
	inTier := f.tierPath("fast", "sub")
	if err := os.Mkdir(inTier, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountPath(t, inTier) }) // where a symlinked mount would land
	link := filepath.Join(f.base, "mplink")
	if err := os.Symlink(inTier, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(f.base, "afile")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	inside := func(mp string) string { return strconv.Quote(mp) + ` is inside tier[2] "fast"` }
	tests := []struct {
		name string
		mp   string
		want []string
	}{
		{"directory inside a tier", inTier, []string{"mount point: " + inside(inTier)}},
		{"symlink into a tier", link, []string{"mount point: " + inside(link)}},
		{"regular file", file, []string{"mount point: " + strconv.Quote(file) + " is not a directory"}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			for _, fg := range []bool{true, false} {
				mountRefusedAt(t, f, tt.mp, fg, tt.want...)
				if m, ok := mountAt(tt.mp); ok {
					t.Errorf("%s left on %s", m.fstype, tt.mp)
				}
				if m, ok := mountAt(inTier); ok {
					t.Errorf("%s left on %s", m.fstype, inTier)
				}
			}
		})
	}
}
