package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mvCheck runs tierfs check and returns its output and whether it failed.
func mvCheck(t *testing.T, f *fixture, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(f.bin, append([]string{"check"}, args...)...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("tierfs check: %v", err)
		}
	}
	return string(out), err != nil
}

func mvTierWrite(t *testing.T, f *fixture, tier, rel string, data []byte, mtime time.Time) {
	t.Helper()
	p := f.tierPath(tier, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// A crash leaves two different copies: the newer stays, the other is
// set aside and reported. tierfs check then reports every kind of
// problem without changing anything, refuses --repair while mounted, and
// repairs what it safely can when unmounted.
func TestMoverRecoveryAndCheck(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	rel := mvUserDir + "/cur/1.M1P1.h:2,S"
	orig := mvContent(rel, 4000)
	mvWrite(t, f, rel, orig, 40*24*time.Hour)
	f.unmount(t)
	f.mount(t, crashPointEnv+"=move-after-rename")
	mvMigrateErr(f)
	mvWaitKilled(t, f)
	if got := f.tiersHolding(rel); len(got) != 2 {
		t.Fatalf("premise: after a crash at move-after-rename %s should be on two tiers, is on %v", rel, got)
	}
	// The source changes behind tierfs's back before the next mount: the
	// copies now differ, and the source is the newer.
	changed := append(bytes.Clone(orig), "changed\n"...)
	mvTierWrite(t, f, "fast", rel, changed, time.Now())
	f.mount(t)
	mvMustBytes(t, f, rel, changed)
	f.requireOnTier(t, rel, "fast")
	aside := f.tierPath("slow", ".tierfs-recovered/"+rel)
	if got, err := os.ReadFile(aside); err != nil || !bytes.Equal(got, orig) {
		t.Errorf("the older copy was not set aside at %s: %v", aside, err)
	}
	if log := f.d.log(); !strings.Contains(log, "kept both") {
		t.Errorf("the recovery is not logged:\n%s", log)
	}

	// More trouble, made by hand on the tiers.
	old := time.Now().Add(-time.Hour)
	dup := mvUserDir + "/cur/2.M2P2.h:2,S"
	mvTierWrite(t, f, "fast", dup, []byte("same"), old)
	mvTierWrite(t, f, "slow", dup, []byte("same"), old)
	diff := "index/f5/alice/dovecot.index.log"
	mvTierWrite(t, f, "fast", diff, []byte("older"), old)
	mvTierWrite(t, f, "slow", diff, []byte("newer"), time.Now())
	mvTierWrite(t, f, "slow", ".tierfs-moving/00ff00ff00ff00ff", []byte("partial"), old)
	durable := "volatile/f5/alice/dovecot-uidlist"
	mvTierWrite(t, f, "tmp", durable, []byte("3 V1 N2\n"), old)
	mvTierWrite(t, f, "tmp", "volatile/f5/alice/mailboxes.lock", nil, old) // fine on tmpfs
	mis := "archive/x"
	mvTierWrite(t, f, "fast", mis, []byte("misplaced"), old)

	if out, _ := mvCheck(t, f, "--repair", f.mnt); !strings.Contains(out, "unmount it first") {
		t.Errorf("check --repair on a mounted filesystem:\n%s", out)
	}
	f.unmount(t)
	before := mvSnapshot(t, f)
	out, failed := mvCheck(t, f, "--config", f.cfgPath)
	mvSameSnapshot(t, before, mvSnapshot(t, f))
	for _, want := range []string{
		"duplicate: " + dup + " on fast and slow (identical",
		"duplicate: " + diff + " on fast and slow (different content",
		"leftover: slow:.tierfs-moving/00ff00ff00ff00ff",
		"not durable: " + durable + " is on tmpfs tier tmp",
		"misplaced: " + mis + " on fast",
		"set aside: slow:.tierfs-recovered/" + rel,
		"6 problems found, 0 repaired",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if !failed || strings.Contains(out, "mailboxes.lock") {
		t.Errorf("check: failed=%v\n%s", failed, out)
	}

	out, failed = mvCheck(t, f, "--config", f.cfgPath, "--repair")
	// The newer index log stays on slow, now misplaced, as archive/x is.
	if !failed || !strings.Contains(out, "7 problems found, 4 repaired") || !strings.Contains(out, "misplaced: "+diff+" on slow") {
		t.Errorf("check --repair (misplaced and set-aside files remain):\n%s", out)
	}
	f.requireOnTier(t, dup, "fast")
	f.requireOnTier(t, diff, "slow") // the newer copy
	if got, _ := os.ReadFile(f.tierPath("fast", ".tierfs-recovered/"+diff)); string(got) != "older" {
		t.Errorf("the older %s was not set aside on fast: %q", diff, got)
	}
	f.requireOnTier(t, durable, "fast")
	if left := mvOwnEntries(f, ".tierfs-moving"); len(left) > 0 {
		t.Errorf("leftovers after repair: %v", left)
	}

	f.mount(t)
	mustContent(t, f.path(durable), "3 V1 N2\n")
	mustContent(t, f.path(diff), "newer")
	if r := mvMigrate(t, f); r.Files != 2 || len(r.Skipped) != 0 {
		t.Errorf("pass after the repair: %+v, want the two misplaced files moved (and the durable file kept off tmpfs)", r)
	}
	f.requireOnTier(t, mis, "slow")
	f.requireOnTier(t, diff, "fast")
	f.requireOnTier(t, durable, "fast")
	out, _ = mvCheck(t, f, f.mnt)
	if !strings.Contains(out, "2 problems found") || strings.Contains(out, "misplaced") {
		t.Errorf("check after the pass should list only the two set-aside copies:\n%s", out)
	}
}
