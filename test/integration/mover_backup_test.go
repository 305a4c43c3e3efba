package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `tierfs hold`, as a backup of the tiers uses it: it cancels the
// running pass after the file being moved and returns only once that
// pass ended; under the hold a pass asked for is refused, scheduled
// passes do not run (every file stays on its tier, as the tiers'
// directories show) and status says so; after --release the schedule
// moves the rest.
func TestMoverHold(t *testing.T) {
	cfg := mvConfig("")
	f := newFixture(t, cfg)
	f.mount(t, "TIERFS_PAUSEPOINT=move-after-copy:2s")
	var files []string
	for i := range 4 {
		rel := fmt.Sprintf("%s/cur/%d", mvUserDir, i)
		mvWrite(t, f, rel, mvContent(rel, 64<<10), 40*24*time.Hour)
		files = append(files, rel)
	}

	passDone := make(chan []byte, 1)
	go func() {
		out, err := mvMigrateErr(f)
		if err != nil {
			out = fmt.Appendf(out, "\n%v", err)
		}
		passDone <- out
	}()
	waitFor(t, "a move paused after its copy", func() bool {
		ents, _ := os.ReadDir(f.tierPath("slow", ".tierfs-moving"))
		return len(ents) > 0
	})
	out, err := f.run("hold", "--for", "10m", f.mnt)
	returned := time.Now()
	if err != nil || !strings.Contains(out, f.mnt+": mover held until ") {
		t.Fatalf("tierfs hold: %v\n%s", err, out)
	}
	var r struct {
		mvReport
		Finished time.Time `json:"finished"`
	}
	select {
	case out := <-passDone:
		if err := json.Unmarshal(out, &r); err != nil || r.Files != 1 || r.Stopped != "held (tierfs hold)" {
			t.Fatalf("the pass the hold stopped: %s; want 1 file moved, stopped by the hold", out)
		}
	case <-time.After(mountWait):
		t.Fatal("the pass the hold stopped did not end")
	}
	if r.Finished.After(returned) {
		t.Fatalf("tierfs hold returned at %s, before the pass it stopped ended (%s)", returned.Format(time.StampMicro), r.Finished.Format(time.StampMicro))
	}
	before := mvSnapshot(t, f)
	moved := 0
	for _, rel := range files {
		if held := f.tiersHolding(rel); len(held) != 1 {
			t.Fatalf("%s on tiers %v, want one", rel, held)
		} else if held[0] == "slow" {
			moved++
		}
	}
	if moved != 1 {
		t.Fatalf("%d of the files on slow after the held pass, want 1", moved)
	}

	if out, err := mvMigrateErr(f); err == nil || !strings.Contains(string(out), "the mover is held until") {
		t.Errorf("tierfs migrate under the hold: %v\n%s", err, out)
	}
	if out, err := f.run("status", f.mnt); err != nil || !strings.Contains(out, "mover held until ") {
		t.Errorf("tierfs status under the hold: %v\n%s", err, out)
	}

	// A schedule of one pass a second, for three seconds: nothing moves.
	cfg.Extra = strings.Replace(cfg.Extra, `interval = "0s"`, `interval = "1s"`, 1)
	f.writeConfig(t, cfg.toml())
	if out, err := f.run("reload", f.mnt); err != nil {
		t.Fatalf("tierfs reload: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second)
	mvSameSnapshot(t, before, mvSnapshot(t, f))

	out, err = f.run("hold", "--release", f.mnt)
	if err != nil || !strings.Contains(out, f.mnt+": mover released") {
		t.Fatalf("tierfs hold --release: %v\n%s", err, out)
	}
	waitFor(t, "the schedule moved every aged file after the release", func() bool {
		for _, rel := range files {
			if held := f.tiersHolding(rel); len(held) != 1 || held[0] != "slow" {
				return false
			}
		}
		return true
	})
	for _, rel := range files {
		got, err := os.ReadFile(f.path(rel))
		if err != nil || string(got) != string(mvContent(rel, 64<<10)) {
			t.Errorf("%s through the mount after the moves: %d bytes, %v", rel, len(got), err)
		}
	}
	if out, err := f.run("hold", "--release", f.mnt); err != nil || !strings.Contains(out, "mover was not held") {
		t.Errorf("a second tierfs hold --release: %v\n%s", err, out)
	}
}

// A backup through the mount lists every file once while the mover
// moves them, in both directions: a listing reads a directory's copies
// under the directory's name lock, which a move takes to unlink its
// source. The files of one directory age from fast to slow; those of
// another were renamed there from archive/ (on slow), and its rule puts
// them on fast (no aging), so they go home. Each listing, a fresh open
// of the directory, must show every name once.
func TestListingAcrossMoves(t *testing.T) {
	f := newFixture(t, mvConfig(""))
	f.mount(t)
	const n = 200 // in each directory
	dirs := []string{mvUserDir + "/cur", "index/f5/alice/box"}
	f.mkdirAll(t, "archive")
	for i := range n {
		name := fmt.Sprintf("%d.M%d.host:2,S", 1700000000+i, i)
		mvWrite(t, f, dirs[0]+"/"+name, mvContent(name, 512), 40*24*time.Hour)
		mvWrite(t, f, "archive/"+name, mvContent(name, 512), 0)
		f.mkdirAll(t, dirs[1])
		if err := os.Rename(f.path("archive/"+name), f.path(dirs[1]+"/"+name)); err != nil {
			t.Fatal(err)
		}
	}
	first := "/1700000000.M0.host:2,S"
	f.requireOnTier(t, dirs[0]+first, "fast")
	f.requireOnTier(t, dirs[1]+first, "slow")

	passDone := make(chan mvReport, 1)
	go func() { passDone <- mvMigrate(t, f) }()
	listings := 0
	check := func() {
		for _, dir := range dirs {
			ents, err := os.ReadDir(f.path(dir))
			if err != nil {
				t.Fatalf("listing %d of %s: %v", listings, dir, err)
			}
			seen := map[string]bool{}
			for _, e := range ents {
				if seen[e.Name()] || !strings.HasPrefix(e.Name(), "17") {
					t.Fatalf("listing %d of %s: %q twice or unknown", listings, dir, e.Name())
				}
				seen[e.Name()] = true
			}
			if len(seen) != n {
				t.Fatalf("listing %d of %s during the moves: %d names, want %d", listings, dir, len(seen), n)
			}
		}
		listings++
	}
	var r mvReport
	for r.Files == 0 {
		select {
		case r = <-passDone:
		default:
			check()
		}
	}
	check()
	if r.Files != 2*n || r.Failed != 0 {
		t.Fatalf("pass: %+v, want %d files moved", r, 2*n)
	}
	if listings < 3 {
		t.Fatalf("premise: only %d listings during the pass", listings)
	}
	t.Logf("%d listings of both directories during a pass of %d moves", listings, 2*n)
	f.requireOnTier(t, dirs[0]+first, "slow")
	f.requireOnTier(t, dirs[1]+first, "fast")
}

// The README's backup of the tiers, restored: under a hold, each
// persistent tier is copied with cp -a (extended attributes and all)
// while mail keeps arriving; the copies then replace the tiers, the
// tmpfs tier is emptied as by a reboot, and `tierfs check` finds
// nothing to repair. Mounted, the restored set shows every file the
// mount showed when the hold began, with its content. The files moved
// to slow keep their inode numbers too: tierfs keeps those in an xattr,
// which the copy carries. A file never moved shows its tier's inode
// number, which a restore into new files changes, as any restore does.
func TestBackupOfHeldTiersRestores(t *testing.T) {
	f := newFixture(t, mvConfig(""))
	f.mount(t)
	content := map[string][]byte{} // every file but the one on tmpfs
	moved := map[string][]byte{}
	for i := range 24 {
		rel := fmt.Sprintf("%s/cur/%d.M%d:2,S", mvUserDir, 1700000000+i, i)
		content[rel] = mvContent(rel, 8<<10)
		age := time.Duration(0)
		if i%2 == 0 {
			age = 40 * 24 * time.Hour
			moved[rel] = content[rel]
		}
		mvWrite(t, f, rel, content[rel], age)
		idx := fmt.Sprintf("index/f5/alice/%d.index", i)
		content[idx] = mvContent("index", 1<<10+i)
		mvWrite(t, f, idx, content[idx], 0)
	}
	mvWrite(t, f, "volatile/f5/alice/dovecot.lock", []byte("lock"), 0)
	if r := mvMigrate(t, f); r.Files != 12 {
		t.Fatalf("premise: the first pass moved %d files, want 12", r.Files)
	}
	inos := map[string]uint64{}
	for rel := range moved {
		inos[rel] = mvIno(t, f, rel)
	}

	if out, err := f.run("hold", "--for", "10m", f.mnt); err != nil {
		t.Fatalf("tierfs hold: %v\n%s", err, out)
	}
	copies := map[string]string{}
	for _, tier := range []string{"fast", "slow"} {
		copies[tier] = filepath.Join(f.base, tier+".backup")
		if out, err := exec.Command("cp", "-a", f.tiers[tier], copies[tier]).CombinedOutput(); err != nil {
			t.Fatalf("cp -a of tier %s: %v\n%s", tier, err, out)
		}
		// New mail between the copies.
		mvWrite(t, f, fmt.Sprintf("%s/new/after-%s", mvUserDir, tier), []byte("late"), 0)
	}
	if out, err := f.run("hold", "--release", f.mnt); err != nil {
		t.Fatalf("tierfs hold --release: %v\n%s", err, out)
	}
	f.unmount(t)

	for tier, cp := range copies {
		if err := os.Rename(f.tiers[tier], f.tiers[tier]+".lost"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cp, f.tiers[tier]); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(f.tiers["tmp"])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(f.tiers["tmp"], e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	out, err := f.run("check", "--config", f.cfgPath, "--state-dir", f.stateDir)
	if err != nil || !strings.Contains(out, "0 problems found") {
		t.Fatalf("tierfs check of the restored tiers: %v\n%s", err, out)
	}
	f.mount(t)
	mvCheckFiles(t, f, moved, inos) // content, one tier, the kept inode number
	for rel, want := range content {
		if got, err := os.ReadFile(f.path(rel)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the restore: %d bytes, %v; want the %d written", rel, len(got), err, len(want))
		}
	}
}
