package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

// checkFixture writes a config of a tmpfs tier (absent, as after a
// reboot) and two marked local tiers, and returns the config's path and
// the tier directories by name.
func checkFixture(t *testing.T) (string, map[string]string) {
	t.Helper()
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(base, "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	return writeCheckConfig(t, base, dirs, "fast"), dirs
}

// shmDir returns a new directory on the tmpfs at /dev/shm, removed
// after the test, for a tier of kind tmpfs.
func shmDir(t *testing.T) string {
	t.Helper()
	shm, err := os.MkdirTemp("/dev/shm", "tierfs-check-")
	if err != nil {
		t.Skip("no tmpfs at /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	return shm
}

// writeCheckConfig creates and marks the persistent tiers of dirs
// (every one but "tmp", which is of kind tmpfs) and writes a config of
// them under base, with one rule placing everything on tier place. It
// returns the config's path.
func writeCheckConfig(t *testing.T, base string, dirs map[string]string, place string) string {
	t.Helper()
	var cfg strings.Builder
	for _, name := range []string{"tmp", "fast", "slow"} {
		if dirs[name] == "" {
			continue
		}
		kind := "local"
		if name == "tmp" {
			kind = "tmpfs"
		} else {
			if err := os.Mkdir(dirs[name], 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := tiers.WriteMarker(dirs[name], name); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(&cfg, "[[tier]]\nname = %q\npath = %q\nkind = %q\n\n", name, dirs[name], kind)
	}
	fmt.Fprintf(&cfg, "[[rule]]\nmatch = \"**\"\ntier = %q\n", place)
	path := filepath.Join(base, "tierfs.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// check runs on tiers some of which are not there (an absent tmpfs
// tier, a persistent tier without its marker) and reports instead of
// panicking on the tiers it did not open.
func TestCheckMissingTiers(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dirs map[string]string)
		wantOut string   // in the output when the check succeeds
		wantErr []string // in the error; nil when the check must succeed
	}{
		{"tmpfs tier absent", func(*testing.T, map[string]string) {}, "0 problems found, 0 repaired", nil},
		{"persistent tier unmarked", func(t *testing.T, dirs map[string]string) {
			if err := os.Rename(filepath.Join(dirs["slow"], tiers.MarkerName), filepath.Join(dirs["slow"], "x")); err != nil {
				t.Fatal(err)
			}
		}, "", []string{`tier "slow"`, "has no tier marker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dirs := checkFixture(t)
			tt.setup(t, dirs)
			var out bytes.Buffer
			err := runCheck(context.Background(), []string{"--config", cfg}, &out)
			if tt.wantErr == nil && (err != nil || !strings.Contains(out.String(), tt.wantOut)) {
				t.Errorf("check = %v, output:\n%s\nwant success and %q", err, out.String(), tt.wantOut)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("check = %v, want an error containing %q", err, want)
				}
			}
			if _, err := os.Stat(dirs["tmp"]); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("check made the absent tmpfs tier %s: %v", dirs["tmp"], err)
			}
		})
	}
}

// check --repair is refused while a daemon holds a tier's lock, whatever
// the mount table says, and removes nothing; plain check still reports.
func TestCheckRepairRefusedWhileLocked(t *testing.T) {
	cfg, dirs := checkFixture(t)
	leftover := filepath.Join(dirs["slow"], tiers.MovingDir, "x.tmp")
	if err := os.MkdirAll(filepath.Dir(leftover), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftover, []byte("in flight"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The "daemon": the same process holds the lock through another
	// open file description, which flock treats as another holder.
	daemon, err := tiers.Open(tiers.Spec{Name: "slow", Path: dirs["slow"], Kind: tiers.KindLocal}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	if err := daemon.Lock(); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err = runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	for _, want := range []string{"check --repair", `tier "slow"`, "pid " + strconv.Itoa(os.Getpid()), "unmount it first"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check --repair with slow locked = %v, want it to mention %q", err, want)
		}
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Errorf("check --repair removed the live move temporary: %v", err)
	}
	out.Reset()
	err = runCheck(context.Background(), []string{"--config", cfg}, &out)
	if err == nil || !strings.Contains(out.String(), "leftover: slow:"+tiers.MovingDir+"/x.tmp") {
		t.Errorf("plain check with slow locked = %v, want the leftover reported:\n%s", err, out.String())
	}
	daemon.Close()
	out.Reset()
	if err := runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out); err != nil || !strings.Contains(out.String(), "1 problems found, 1 repaired") {
		t.Errorf("check --repair after the lock was released = %v:\n%s", err, out.String())
	}
}

// A Dovecot file present with the same bytes on a tmpfs tier (first in
// its lookup order) and on a persistent tier: --repair must not remove
// the durable copy and leave the only one on tmpfs, which a reboot
// empties, even when moving it off tmpfs then fails.
func TestCheckRepairKeepsDurableDuplicate(t *testing.T) {
	shm := shmDir(t)
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shm, "tmp"), "fast": filepath.Join(base, "fast")}
	cfg := writeCheckConfig(t, base, dirs, "tmp")
	const rel = "mail/u/dovecot-uidlist"
	for _, d := range []string{dirs["tmp"], dirs["fast"]} {
		if err := os.MkdirAll(filepath.Join(d, "mail/u"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, rel), []byte("3 V1 N2\n1 a\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Moving the file off tmpfs fails: fast has no room for temporaries.
	os.Remove(filepath.Join(dirs["fast"], tiers.MovingDir))

	var out bytes.Buffer
	err := runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	t.Logf("check --repair = %v:\n%s", err, out.String())
	if _, err := os.Stat(filepath.Join(dirs["fast"], rel)); err != nil {
		t.Errorf("check --repair removed the only durable copy of %s: %v", rel, err)
	}
}

// A crash in the middle of a hard-linked move leaves its names on two
// tiers and an intent naming them all. check --repair settles them as
// the mount's replay does, every name on one tier as one file (here
// rolled back to fast, which holds every name), before its walk:
// repairing them one by one would keep each name's copy on the tier its
// own rule looks at first, which here splits the file (mail/b's rule
// puts slow first, as a name under archive/ would be when it moves with
// aged mail). The tmpfs tier, absent as after a reboot, is created for
// the replay as the mount would.
func TestCheckRepairLeavesInterruptedLinkedMove(t *testing.T) {
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shmDir(t), "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	cfg := writeCheckConfig(t, base, dirs, "fast")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("[[rule]]"), []byte("[[rule]]\nmatch = \"mail/b/**\"\ntier = \"slow\"\n\n[[rule]]"), 1)
	if err := os.WriteFile(cfg, text, 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{"mail/a/cur/1", "mail/b/cur/1"}
	for _, d := range []string{dirs["fast"], dirs["slow"]} {
		for i, n := range names {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(d, n)), 0o755); err != nil {
				t.Fatal(err)
			}
			var err error
			if i == 0 {
				err = os.WriteFile(filepath.Join(d, n), []byte("message\n"), 0o600)
			} else {
				err = os.Link(filepath.Join(d, names[0]), filepath.Join(d, n))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dirs["fast"], ".tierfs-journal"), 0o700); err != nil {
		t.Fatal(err)
	}
	intent := `{"op":"move-linked","from":"mail/a/cur/1","paths":["mail/a/cur/1","mail/b/cur/1"],"tiers":["fast","slow"]}`
	if err := os.WriteFile(filepath.Join(dirs["fast"], ".tierfs-journal", "0123456789abcdef.json"), []byte(intent), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	// Left: mail/b's name on fast, misplaced until the mover moves the
	// file with both names.
	if !strings.Contains(out.String(), "journal: move-linked mail/a/cur/1 (names mail/a/cur/1, mail/b/cur/1) on fast, slow [repaired: finished as the mount would]") ||
		!strings.Contains(out.String(), "2 problems found, 1 repaired") {
		t.Errorf("check --repair = %v, want the move settled and mail/b/cur/1 reported misplaced:\n%s", err, out.String())
	}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dirs["fast"], n))
		if err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 2 {
			t.Errorf("%s on fast after check --repair: %v, want one file with both names", n, err)
		}
		if _, err := os.Lstat(filepath.Join(dirs["slow"], n)); err == nil {
			t.Errorf("%s still on slow after check --repair", n)
		}
	}
}

// check --repair moves a durable file off tmpfs by copying it, one name
// at a time: for a file with several names that would make each name a
// file of its own. It reports such a file and leaves it.
func TestCheckRepairLeavesLinkedFileOnTmpfs(t *testing.T) {
	shm := shmDir(t)
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shm, "tmp"), "fast": filepath.Join(base, "fast")}
	cfg := writeCheckConfig(t, base, dirs, "tmp")
	if err := os.Mkdir(filepath.Join(dirs["fast"], tiers.MovingDir), 0o700); err != nil {
		t.Fatal(err) // as a mount leaves it: the repair can copy
	}
	names := []string{"mail/a/cur/1.M1P1.h:2,S", "mail/b/cur/1.M1P1.h:2,S"}
	for i, n := range names {
		p := filepath.Join(dirs["tmp"], n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if i == 0 {
			err = os.WriteFile(p, []byte("message\n"), 0o600)
		} else {
			err = os.Link(filepath.Join(dirs["tmp"], names[0]), p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	err := runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	if err == nil || !strings.Contains(out.String(), "several names") {
		t.Errorf("check --repair = %v, want the linked file reported and left:\n%s", err, out.String())
	}
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dirs["tmp"], n)); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 2 {
			t.Errorf("%s on tmp after check --repair: %v", n, err)
		}
	}
}

// A misplaced file whose rule demotes is reported with both tiers it
// may go to: the mover takes one old enough straight to demote_to.
func TestCheckMisplacedNamesDemoteTier(t *testing.T) {
	base := t.TempDir()
	var cfg strings.Builder
	for _, name := range []string{"fast", "slow", "old"} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := tiers.WriteMarker(dir, name); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "[[tier]]\nname = %q\npath = %q\nkind = \"local\"\n\n", name, dir)
	}
	cfg.WriteString("[[rule]]\nmatch = \"mail/**\"\ntier = \"fast\"\ndemote_after = \"30d\"\ndemote_to = \"slow\"\n\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n")
	path := filepath.Join(base, "tierfs.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(base, "old", "mail"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "old", "mail", "m"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runCheck(context.Background(), []string{"--config", path}, &out)
	want := `misplaced: mail/m on old, rule[1] ("mail/**") places it on fast, or on slow once it ages`
	if err == nil || !strings.Contains(out.String(), want) {
		t.Errorf("check = %v, want a failure and %q in:\n%s", err, want, out.String())
	}
}
