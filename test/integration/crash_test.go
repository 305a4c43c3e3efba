package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// crashPointEnv makes the daemon SIGKILL itself at a named step.
const crashPointEnv = "TIERFS_CRASHPOINT"

// The daemon is killed in the middle of renaming a directory that spans
// tiers (after the journal intent and the rename on the first tier). After
// a new mount the rename is complete on every tier and no file is lost.
func TestCrashDuringDirectoryRename(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	files := map[string]string{"a": "fast", "b.slow": "slow", "sub/c.slow": "slow", "sub/d": "fast", "deep/er/e.slow": "slow"}
	for name := range files {
		fx.mkdirAll(t, filepath.Dir("span/old/"+name))
		fx.writeFile(t, "span/old/"+name, "content of "+name)
	}
	if got := fx.tiersHolding("span/old"); len(got) != 2 {
		t.Fatalf("premise: span/old should be on fast and slow, is on %v", got)
	}
	fx.unmount(t)
	fx.mount(t, crashPointEnv+"=dir-rename-between-tiers")
	d := fx.d

	errc := make(chan error, 1)
	go func() { errc <- os.Rename(fx.path("span/old"), fx.path("span/new")) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("rename succeeded although the daemon was to crash in the middle of it")
		}
		t.Logf("rename during the crash: %v", err)
	case <-time.After(mountWait):
		t.Fatal("rename did not return after the daemon crash")
	}
	if !d.wait(mountWait) {
		t.Fatal("the daemon did not die at the crash point")
	}
	var ee *exec.ExitError
	if !errors.As(d.waitErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("daemon ended with %v, want killed by SIGKILL at the crash point\n%s", d.waitErr, d.log())
	}
	fx.d = nil
	if out, err := exec.Command("umount", "-l", fx.mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the dead mount: %v %s", err, out)
	}
	// The crash point is between the tiers: the rename is half done.
	if o, n := fx.tiersHolding("span/old"), fx.tiersHolding("span/new"); len(o) == 0 || len(n) == 0 {
		t.Fatalf("premise: after the crash span/old should be on one tier and span/new on another; old on %v, new on %v", o, n)
	}

	fx.mount(t)
	requireDirRenamed(t, fx, "span/old", "span/new", files)
	if got := readdirNames(t, fx.path("span")); len(got) != 1 || got[0] != "new" {
		t.Errorf("span/ after recovery: %v, want [new]", got)
	}
}

// The daemon is killed in the middle of a rename that replaces a file on
// another tier: after the rename on the source's tier, before the
// replaced copy is removed. After a new mount the rename is complete:
// the target shows the renamed file's content, on one tier, and the
// source name is gone. Before the rename was journaled, the replaced
// copy stayed, and where it came first in the lookup order the mount
// showed the old file with the renamed one hidden behind it.
func TestCrashDuringRenameReplacingAcrossTiers(t *testing.T) {
	for _, tc := range []struct{ from, to, tier string }{
		{"new.slow", "old", "slow"}, // the replaced copy (fast) comes first in the lookup of "old"
		{"new", "old.slow", "fast"}, // the renamed copy (fast) comes second in the lookup of "old.slow"
	} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			fx := mountTierfs(t, defaultConfig())
			fx.mkdirAll(t, "span/x")
			fx.writeFile(t, "span/x/"+tc.to, "replaced content")
			fx.writeFile(t, "span/x/"+tc.from, "renamed content")
			if a, b := fx.tiersHolding("span/x/"+tc.to), fx.tiersHolding("span/x/"+tc.from); len(a) != 1 || len(b) != 1 || a[0] == b[0] {
				t.Fatalf("premise: the two files should be on different tiers, are on %v and %v", a, b)
			}
			fx.unmount(t)
			fx.mount(t, crashPointEnv+"=rename-before-unlink-replaced")
			if err := os.Rename(fx.path("span/x/"+tc.from), fx.path("span/x/"+tc.to)); err == nil {
				t.Fatal("rename succeeded although the daemon was to crash in the middle of it")
			}
			mvWaitKilled(t, fx)
			if got := fx.tiersHolding("span/x/" + tc.to); len(got) != 2 {
				t.Fatalf("premise: after the crash %s should be on two tiers, is on %v", tc.to, got)
			}

			fx.mount(t)
			got, err := os.ReadFile(fx.path("span/x/" + tc.to))
			if err != nil || string(got) != "renamed content" {
				t.Errorf("%s after the remount: %q, %v; want the renamed file's content", tc.to, got, err)
			}
			fx.requireOnTier(t, "span/x/"+tc.to, tc.tier)
			if names := readdirNames(t, fx.path("span/x")); len(names) != 1 || names[0] != tc.to {
				t.Errorf("span/x after the remount: %v, want [%s]", names, tc.to)
			}
		})
	}
}
