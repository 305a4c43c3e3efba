package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// repairFixture writes a config of a tmpfs tier (under /dev/shm) and two
// marked local tiers, never mounted, with every file placed on fast, and
// returns the config's path and the tier directories by name.
func repairFixture(t *testing.T) (string, map[string]string) {
	t.Helper()
	shm := shmDir(t)
	base := t.TempDir()
	dirs := map[string]string{"tmp": shm, "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	return writeCheckConfig(t, base, dirs, "fast"), dirs
}

func writeTier(t *testing.T, dir, rel, data string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// runRepair runs check --repair and then check, and returns both outputs.
func runRepair(t *testing.T, cfg string) (string, string) {
	t.Helper()
	var rep, chk bytes.Buffer
	runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &rep)
	runCheck(context.Background(), []string{"--config", cfg}, &chk)
	return rep.String(), chk.String()
}

func holders(dirs map[string]string, rel string) []string {
	var out []string
	for _, name := range []string{"tmp", "fast", "slow"} {
		if _, err := os.Lstat(filepath.Join(dirs[name], rel)); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// A name on three tiers with three contents, the oldest on the tier the
// mount shows: one repair keeps the newest and sets both others aside
// (the third copy was compared with the one already set aside, failed,
// and stayed until another repair).
func TestCheckRepairThreeDifferentCopies(t *testing.T) {
	cfg, dirs := repairFixture(t)
	const rel = "x/f"
	for i, name := range []string{"fast", "slow", "tmp"} {
		writeTier(t, dirs[name], rel, name+" copy", time.Unix(1_700_000_000+int64(i)*1000, 0))
	}
	rep, chk := runRepair(t, cfg)
	if got := holders(dirs, rel); len(got) != 1 || got[0] != "tmp" || strings.Contains(chk, "duplicate") {
		t.Errorf("after one repair %s is on %v, want only the newest (tmp)\nrepair:\n%s\ncheck:\n%s", rel, got, rep, chk)
	}
	for _, name := range []string{"fast", "slow"} {
		if got, _ := os.ReadFile(filepath.Join(dirs[name], tiers.RecoveredDir, rel)); string(got) != name+" copy" {
			t.Errorf("the copy on %s was not set aside: %q", name, got)
		}
	}
}

// A Dovecot file on tmpfs is moved to a persistent tier that was never
// mounted (no directory for temporaries yet).
func TestCheckRepairMovesOffTmpfsBeforeFirstMount(t *testing.T) {
	cfg, dirs := repairFixture(t)
	const rel = "mail/u/dovecot-uidlist"
	writeTier(t, dirs["tmp"], rel, "3 V1 N2\n", time.Now())
	rep, chk := runRepair(t, cfg)
	if got := holders(dirs, rel); len(got) != 1 || got[0] != "fast" || strings.Contains(chk, "not durable") {
		t.Errorf("after the repair %s is on %v, want fast\nrepair:\n%s\ncheck:\n%s", rel, got, rep, chk)
	}
}

// A Dovecot file on tmpfs whose other name is a duplicate of an
// identical copy on a persistent tier, later in the walk: the repair of
// that duplicate removes the other name, so the same repair moves the
// file, now with one name, off tmpfs, and a second repair finds nothing
// more to do.
func TestCheckRepairOffTmpfsAfterOtherNameSettled(t *testing.T) {
	cfg, dirs := repairFixture(t)
	const rel, other = "mail/u/dovecot-uidlist", "z/copy"
	now := time.Now()
	writeTier(t, dirs["tmp"], rel, "3 V1 N2\n", now)
	if err := os.MkdirAll(filepath.Join(dirs["tmp"], "z"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dirs["tmp"], rel), filepath.Join(dirs["tmp"], other)); err != nil {
		t.Fatal(err)
	}
	writeTier(t, dirs["slow"], other, "3 V1 N2\n", now)
	rep, chk := runRepair(t, cfg)
	if got := holders(dirs, rel); len(got) != 1 || got[0] != "fast" || strings.Contains(chk, "not durable") {
		t.Errorf("after one repair %s is on %v, want fast\nrepair:\n%s\ncheck:\n%s", rel, got, rep, chk)
	}
	if got := holders(dirs, other); len(got) != 1 || got[0] != "slow" {
		t.Errorf("after one repair %s is on %v, want slow (the persistent copy)\nrepair:\n%s", other, got, rep)
	}
	if n := strings.Count(rep, "not durable: "+rel); n != 1 {
		t.Errorf("the repair reports %s %d times, want once:\n%s", rel, n, rep)
	}
	var again bytes.Buffer
	runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &again)
	if strings.Contains(again.String(), "[repaired") {
		t.Errorf("a second repair repaired more:\n%s", again.String())
	}
}

// A file on one tier and a directory of the same name on another: the
// mount shows one of them. The repair sets the file aside and the
// directory keeps the name.
func TestCheckRepairFileAndDirectory(t *testing.T) {
	cfg, dirs := repairFixture(t)
	writeTier(t, dirs["fast"], "box", "a file", time.Now())
	writeTier(t, dirs["slow"], "box/1", "mail in the directory", time.Now())
	rep, chk := runRepair(t, cfg)
	if strings.Contains(chk, "conflict: box") || !strings.Contains(rep, "set aside fast:"+tiers.RecoveredDir+"/box") {
		t.Errorf("the conflict was not repaired\nrepair:\n%s\ncheck:\n%s", rep, chk)
	}
	if got, _ := os.ReadFile(filepath.Join(dirs["fast"], tiers.RecoveredDir, "box")); string(got) != "a file" {
		t.Errorf("the file was not set aside: %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dirs["slow"], "box/1")); string(got) != "mail in the directory" {
		t.Errorf("the directory's file: %q", got)
	}
}

// A directory rename interrupted between tiers (done on fast, not yet on
// tmp) with a Dovecot file left on tmp: the repair first finishes the
// rename as the mount would, then moves the file off tmp under its new
// name. Moving it first would recreate the old directory on fast and
// make the replay fail (ENOTEMPTY) and the mount refuse to start.
func TestCheckRepairFinishesPendingRenames(t *testing.T) {
	cfg, dirs := repairFixture(t)
	writeTier(t, dirs["fast"], "m/box2/1", "renamed on fast", time.Now())
	writeTier(t, dirs["tmp"], "m/box/dovecot-uidlist", "3 V1 N2\n", time.Now())
	intent := `{"op":"rename-dir","from":"m/box","to":"m/box2","tiers":["fast","tmp"]}`
	writeTier(t, dirs["fast"], ".tierfs-journal/00000000000000aa.json", intent, time.Now())
	rep, chk := runRepair(t, cfg)
	if !strings.Contains(rep, "journal: rename-dir m/box -> m/box2 on fast, tmp [repaired: finished as the mount would]") ||
		!strings.Contains(chk, "0 problems found") {
		t.Errorf("the rename was not finished\nrepair:\n%s\ncheck:\n%s", rep, chk)
	}
	if got := holders(dirs, "m/box"); len(got) != 0 {
		t.Errorf("m/box still on %v after the repair\nrepair:\n%s", got, rep)
	}
	if got := holders(dirs, "m/box2/dovecot-uidlist"); len(got) != 1 || got[0] != "fast" {
		t.Errorf("m/box2/dovecot-uidlist on %v, want fast (moved off tmp under its new name)\nrepair:\n%s", got, rep)
	}
	if got, _ := os.ReadFile(filepath.Join(dirs["fast"], "m/box2/dovecot-uidlist")); string(got) != "3 V1 N2\n" {
		t.Errorf("m/box2/dovecot-uidlist holds %q", got)
	}
}

// A tmpfs tier that does not exist (after a reboot) is created for the
// replay where the mount would create it; where it would not be on
// tmpfs, the repair creates nothing, leaves the intent and its names,
// and fails.
func TestCheckRepairAbsentTmpfsTier(t *testing.T) {
	for _, onTmpfs := range []bool{true, false} {
		t.Run(fmt.Sprint("onTmpfs=", onTmpfs), func(t *testing.T) {
			base := t.TempDir()
			parent := base
			if onTmpfs {
				parent = shmDir(t)
			}
			dirs := map[string]string{"tmp": filepath.Join(parent, "tier", "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
			cfg := writeCheckConfig(t, base, dirs, "fast")
			writeTier(t, dirs["fast"], "m/box2/1", "renamed on fast", time.Now())
			writeTier(t, dirs["slow"], "m/box/2", "left on slow", time.Now())
			intent := `{"op":"rename-dir","from":"m/box","to":"m/box2","tiers":["fast","tmp","slow"]}`
			writeTier(t, dirs["fast"], ".tierfs-journal/00000000000000aa.json", intent, time.Now())
			var out bytes.Buffer
			err := runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
			_, serr := os.Stat(dirs["tmp"])
			if onTmpfs {
				// m/box2/2 stays on slow, misplaced: err reports it.
				if serr != nil || !strings.Contains(out.String(), "[repaired: finished as the mount would]") || len(holders(dirs, "m/box2/2")) != 1 {
					t.Errorf("check --repair = %v (tmp tier: %v), want the rename finished:\n%s", err, serr, out.String())
				}
				return
			}
			if err == nil || serr == nil || !strings.Contains(out.String(), "would not be on tmpfs") || len(holders(dirs, "m/box/2")) != 1 {
				t.Errorf("check --repair = %v (tmp tier: %v), want the intent left and reported:\n%s", err, serr, out.String())
			}
		})
	}
}

// A move interrupted with two different copies: the repair's replay
// keeps the newer, as the mount would, sets the other aside and says
// where, and the walk lists the set-aside copy like any other.
func TestCheckRepairReplaySetsAside(t *testing.T) {
	cfg, dirs := repairFixture(t)
	writeTier(t, dirs["fast"], "m/x", "older", time.Now().Add(-time.Hour))
	writeTier(t, dirs["slow"], "m/x", "newer", time.Now())
	writeTier(t, dirs["fast"], ".tierfs-journal/00000000000000bb.json", `{"op":"move","from":"m/x","tiers":["fast","slow"]}`, time.Now())
	rep, chk := runRepair(t, cfg)
	aside := "fast:" + tiers.RecoveredDir + "/m/x"
	for _, want := range []string{
		"journal: move m/x on fast, slow [repaired: finished as the mount would; different copies, set aside " + aside + "]",
		"set aside: " + aside + ", a copy of m/x",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("repair output lacks %q:\n%s", want, rep)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dirs["slow"], "m/x")); string(got) != "newer" || len(holders(dirs, "m/x")) != 1 {
		t.Errorf("m/x on %v holds %q, want only the newer copy on slow", holders(dirs, "m/x"), got)
	}
	if got, _ := os.ReadFile(filepath.Join(dirs["fast"], tiers.RecoveredDir, "m/x")); string(got) != "older" {
		t.Errorf("the older copy set aside holds %q", got)
	}
	if strings.Contains(chk, "journal: ") {
		t.Errorf("check after the repair still reports an intent:\n%s", chk)
	}
}
