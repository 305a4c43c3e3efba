package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// opsHelperLink is where mount(8) looks for the fuse.tierfs helper; it
// searches /sbin only, so the test has to install the real one.
const opsHelperLink = "/sbin/mount.fuse.tierfs"

// opsInstallHelper links /sbin/mount.fuse.tierfs to the binary under test
// with `tierfs install`, and removes the link at the end. It refuses to
// replace a helper someone else installed.
func opsInstallHelper(t *testing.T, bin string) {
	t.Helper()
	if _, err := os.Lstat(opsHelperLink); err == nil {
		t.Fatalf("%s already exists; not replacing it (remove it to run this test)", opsHelperLink)
	}
	out, err := exec.Command(bin, "install").CombinedOutput()
	if err != nil {
		t.Fatalf("tierfs install: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(bin, "install", "--remove").CombinedOutput(); err != nil {
			t.Errorf("tierfs install --remove: %v\n%s", err, out)
		}
	})
	target, err := os.Readlink(opsHelperLink)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(bin)
	if target != want {
		t.Fatalf("%s -> %s, want %s", opsHelperLink, target, want)
	}
	if !strings.Contains(string(out), opsHelperLink+" -> "+want) {
		t.Errorf("tierfs install said %q", out)
	}
}

// opsMountFstab runs the real mount(8) on an fstab file holding line.
func opsMountFstab(t *testing.T, dir, mnt, line string) (string, error) {
	t.Helper()
	fstab := filepath.Join(dir, "fstab")
	if err := os.WriteFile(fstab, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-T", fstab, mnt).CombinedOutput()
	return string(out), err
}

// opsProcMountsLine returns the /proc/mounts line of mnt.
func opsProcMountsLine(mnt string) string {
	data, _ := os.ReadFile("/proc/mounts")
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 2 && mountinfo.Unescape(f[1]) == mnt {
			return l
		}
	}
	return ""
}

func TestOpsFstabMount(t *testing.T) {
	f := newFixture(t, defaultConfig())
	opsInstallHelper(t, f.bin)
	logFile := filepath.Join(f.base, "daemon.log")
	line := fmt.Sprintf("%s %s fuse.tierfs defaults,allow_other,default_permissions,_netdev,noatime,log_file=%s 0 0",
		f.cfgPath, f.mnt, logFile)

	out, err := opsMountFstab(t, f.base, f.mnt, line)
	t.Cleanup(func() { unmountPath(t, f.mnt) })
	if err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("mount -T fstab %s: %v\n%s\ndaemon log:\n%s", f.mnt, err, out, log)
	}
	// mount(8) returned, so the helper exited: the mount must be there
	// already, not soon.
	pm := opsProcMountsLine(f.mnt)
	fields := strings.Fields(pm)
	if len(fields) < 4 || fields[0] != f.cfgPath || fields[2] != "fuse.tierfs" {
		t.Fatalf("/proc/mounts right after mount(8) returned: %q; want %s %s fuse.tierfs ...", pm, f.cfgPath, f.mnt)
	}
	for _, opt := range []string{"noatime", "nosuid", "nodev", "allow_other", "default_permissions"} {
		if !strings.Contains(","+fields[3]+",", ","+opt+",") {
			t.Errorf("mount options %q lack %s", fields[3], opt)
		}
	}
	st := opsStatusJSON(t, f.bin, f.mnt)
	t.Cleanup(func() {
		if opsProcessAlive(st.PID) {
			t.Errorf("daemon %d still running at cleanup; killing it", st.PID)
			unmountPath(t, f.mnt)
			if p, err := os.FindProcess(st.PID); err == nil {
				p.Kill()
			}
		}
	})
	if st.Config != f.cfgPath || st.Mountpoint != f.mnt || !opsProcessAlive(st.PID) {
		t.Fatalf("status: %+v", st)
	}

	// Files work through the mount and land on their tiers.
	f.mkdirAll(t, "index/u")
	f.writeFile(t, "index/u/dovecot.index", "idx")
	f.mkdirAll(t, "volatile/u")
	f.writeFile(t, "volatile/u/lock", "l")
	f.requireOnTier(t, "index/u/dovecot.index", "fast")
	f.requireOnTier(t, "volatile/u/lock", "tmp")
	if got, err := os.ReadFile(f.path("index/u/dovecot.index")); err != nil || string(got) != "idx" {
		t.Fatalf("read back: %q, %v", got, err)
	}

	if out, err := exec.Command("umount", f.mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v\n%s", err, out)
	}
	if !opsWaitExit(st.PID, mountWait) {
		t.Fatalf("daemon %d did not exit after umount", st.PID)
	}
	log, _ := os.ReadFile(logFile)
	for _, want := range []string{"msg=mounted", "msg=unmounted"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("daemon log (log_file=) lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(string(log), "panic:") || strings.Contains(string(log), "DATA RACE") {
		t.Errorf("daemon log:\n%s", log)
	}
}

func TestOpsFstabErrors(t *testing.T) {
	f := newFixture(t, defaultConfig())
	opsInstallHelper(t, f.bin)
	broken := filepath.Join(f.base, "broken.toml")
	os.WriteFile(broken, []byte("[[tier]]\nname = \"fast\"\npath = \"/nonexistent\"\nkind = \"local\"\n[[rule]]\nmatch = \"**\"\ntier = \"fats\"\n"), 0o644)
	missing := filepath.Join(f.base, "missing.toml")
	// A tier without its marker: this is found by the daemon after it
	// detached, and must still come back through mount(8).
	unmarkedDir := filepath.Join(f.base, "unmarked")
	os.Mkdir(unmarkedDir, 0o755)
	unmarked := filepath.Join(f.base, "unmarked.toml")
	os.WriteFile(unmarked, []byte(fmt.Sprintf("[[tier]]\nname = \"fast\"\npath = %q\nkind = \"local\"\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n", unmarkedDir)), 0o644)
	tests := []struct {
		name, source, opts string
		want               []string
	}{
		{"unknown option", f.cfgPath, "defaults,bogus_opt", []string{`mount option "bogus_opt" is not supported`, "supported: ro, rw"}},
		{"option with value", f.cfgPath, "defaults,uid=1000", []string{`mount option "uid=1000" is not supported`}},
		{"allow_other alone", f.cfgPath, "allow_other,nodefault_permissions", []string{"allow_other needs default_permissions"}},
		{"missing config", missing, "defaults", []string{missing, "no such file or directory"}},
		{"broken config", broken, "defaults", []string{broken + ": rule[1].tier:", `"fats" is not a tier`}},
		{"unmarked tier", unmarked, "defaults", []string{unmarked + `: tier "fast": ` + unmarkedDir + " has no tier marker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := fmt.Sprintf("%s %s fuse.tierfs %s 0 0", tt.source, f.mnt, tt.opts)
			out, err := opsMountFstab(t, f.base, f.mnt, line)
			if isMountPoint(f.mnt) {
				unmountPath(t, f.mnt)
				t.Fatalf("mount succeeded with %q:\n%s", line, out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("mount: err = %v, want a failure exit\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("mount output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
