package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// TestOpsMountOptionFlags mounts with -o options and reads the flags and
// the source the kernel really got from /proc/mounts: suid,dev must
// clear go-fuse's nosuid,nodev default, and a quoted fsname keeps its
// comma.
func TestOpsMountOptionFlags(t *testing.T) {
	tests := []struct {
		name     string
		opts     []string
		source   string   // "" is the config file
		has, not []string // in the mount's options
	}{
		{"default", nil, "", []string{"nosuid", "nodev"}, nil},
		{"suid,dev", []string{"suid", "dev"}, "", nil, []string{"nosuid", "nodev"}},
		{"suid", []string{"suid"}, "", []string{"nodev"}, []string{"nosuid"}},
		{"quoted fsname", []string{`fsname="my,fs"`, "noatime"}, "my,fs", []string{"noatime", "nosuid"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.opts = append(f.opts, tt.opts...)
			f.mount(t)
			defer f.unmount(t)
			fields := strings.Fields(opsProcMountsLine(f.mnt))
			if len(fields) < 4 {
				t.Fatalf("%s is not in /proc/mounts", f.mnt)
			}
			source, opts := mountinfo.Unescape(fields[0]), strings.Split(fields[3], ",")
			for _, o := range tt.has {
				if !slices.Contains(opts, o) {
					t.Errorf("-o %s: mount options %q lack %s", strings.Join(tt.opts, ","), fields[3], o)
				}
			}
			for _, o := range tt.not {
				if slices.Contains(opts, o) {
					t.Errorf("-o %s: mount options %q have %s", strings.Join(tt.opts, ","), fields[3], o)
				}
			}
			want := tt.source
			if want == "" {
				want = f.cfgPath
			}
			if source != want {
				t.Errorf("-o %s: source %q, want %q", strings.Join(tt.opts, ","), source, want)
			}
		})
	}
}

// TestOpsDaemonDebugLog mounts daemonized with -o debug and a quoted
// log_file: go-fuse's request trace and the daemon's standard error (where
// the Go runtime writes a fatal error) go to the log file, and follow it
// when it is reopened after rotation.
func TestOpsDaemonDebugLog(t *testing.T) {
	f := newFixture(t, defaultConfig())
	logFile := filepath.Join(f.base, "daemon,1.log") // the comma needs the quotes
	out, err := f.run("mount", "--config", f.cfgPath, "--state-dir", f.stateDir, "-o", fmt.Sprintf("debug,log_file=%q", logFile), f.mnt)
	t.Cleanup(func() {
		unmountPath(t, f.mnt)
		waitNoProcessWith(t, f.cfgPath)
	})
	if err != nil {
		t.Fatalf("tierfs mount -o debug,log_file=...: %v\n%s", err, out)
	}
	pid := opsStatusJSON(t, f.bin, f.mnt).PID
	stderrIs := func(want string) {
		t.Helper()
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/2", pid)); err != nil || got != want {
			t.Errorf("daemon's standard error is %q (%v), want %q", got, err, want)
		}
	}
	stderrIs(logFile)
	f.mkdirAll(t, "index/u")
	f.writeFile(t, "index/u/x", "x")
	waitFileHas(t, logFile, "rx ")

	if err := os.Rename(logFile, logFile+".old"); err != nil {
		t.Fatal(err)
	}
	if out, err := f.run("reload", f.mnt); err != nil {
		t.Fatalf("tierfs reload: %v\n%s", err, out)
	}
	stderrIs(logFile)
	f.writeFile(t, "index/u/y", "y")
	waitFileHas(t, logFile, "rx ")
}

// waitFileHas waits up to 5s for the file to contain want.
func waitFileHas(t testing.TB, p, want string) {
	t.Helper()
	var data []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if data, _ = os.ReadFile(p); strings.Contains(string(data), want) {
			return
		}
	}
	t.Errorf("%s lacks %q:\n%.2000s", p, want, data)
}

// TestOpsFstabQuotedOptions mounts through the real mount(8) with
// double-quoted option values, which it passes on with their quotes.
func TestOpsFstabQuotedOptions(t *testing.T) {
	f := newFixture(t, defaultConfig())
	opsInstallHelper(t, f.bin)
	logFile := filepath.Join(f.base, "daemon,2.log")
	line := fmt.Sprintf(`%s %s fuse.tierfs defaults,fsname="mail,tiers",log_file="%s",noatime 0 0`, f.cfgPath, f.mnt, logFile)
	out, err := opsMountFstab(t, f.base, f.mnt, line)
	t.Cleanup(func() {
		unmountPath(t, f.mnt)
		waitNoProcessWith(t, f.cfgPath)
	})
	if err != nil {
		t.Fatalf("mount -T fstab with %q: %v\n%s", line, err, out)
	}
	fields := strings.Fields(opsProcMountsLine(f.mnt))
	if len(fields) < 4 || mountinfo.Unescape(fields[0]) != "mail,tiers" || !slices.Contains(strings.Split(fields[3], ","), "noatime") {
		t.Errorf("/proc/mounts: %q; want source mail,tiers with noatime", fields)
	}
	waitFileHas(t, logFile, "msg=mounted")
}
