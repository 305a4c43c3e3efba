package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/mover"
)

// spillName is tierfs's record of the files spilled to a tier.
const spillName = ".tierfs-spilled"

// spSetup mounts the pressure tests' layout with fast a 2 MiB tmpfs,
// min_free 512 KiB and target_free 1 MiB.
func spSetup(t *testing.T) *fixture {
	return prMount(t, prSetup{fast: prTmpfs(t, "2m"), fastReserve: `min_free = "512KiB"` + "\n" + `target_free = "1MiB"`})
}

// spFillShort writes index files (no demote_to: nothing demotes them)
// through the mount until fast is below min_free and waits for the
// daemon to see it short; it returns their names.
func spFillShort(t *testing.T, f *fixture) []string {
	t.Helper()
	var fill []string
	for i := 0; prAvail(t, f, "fast") >= 512<<10; i++ {
		rel := fmt.Sprintf("index/f5/alice/fill.%d", i)
		mvWrite(t, f, rel, mvContent(rel, prBlock), 0)
		fill = append(fill, rel)
	}
	waitShort(t, f, "fast", 1)
	return fill
}

// spDeliver delivers mail the maildir way through the mount: created
// with O_EXCL in tmp/, written, renamed into new/ and, with flags, on
// into cur/. It returns the final name.
func spDeliver(t *testing.T, f *fixture, name, flags string, data []byte) string {
	t.Helper()
	for _, d := range []string{"tmp", "new", "cur"} {
		f.mkdirAll(t, mvUserDir+"/"+d)
	}
	tmp := mvUserDir + "/tmp/" + name
	fd, err := os.OpenFile(f.path(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
	rel := mvUserDir + "/new/" + name
	if err := os.Rename(f.path(tmp), f.path(rel)); err != nil {
		t.Fatal(err)
	}
	if flags == "" {
		return rel
	}
	cur := mvUserDir + "/cur/" + name + ":2," + flags
	if err := os.Rename(f.path(rel), f.path(cur)); err != nil {
		t.Fatal(err)
	}
	return cur
}

// spRecords counts the records in tier's spilled file (0 if it is gone).
func spRecords(t *testing.T, f *fixture, tier string) int {
	t.Helper()
	b, err := os.ReadFile(f.tierPath(tier, spillName))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
}

// spStatusSpilled is tier's spilled count in `tierfs status --json`.
func spStatusSpilled(t *testing.T, f *fixture, tier string) int {
	t.Helper()
	for _, ts := range opsStatusJSON(t, f.bin, f.mnt).Tiers {
		if ts.Name == tier {
			return ts.Spilled
		}
	}
	t.Fatalf("no tier %s in the status", tier)
	return 0
}

// New mail that spilled to slow while fast was short comes back once
// fast has room: the young files (delivered through tmp/ into new/ and
// cur/, one also linked into another user's tree, or written in place)
// are on fast again with their content and inode numbers; files the mover demoted early to make room, and a
// spilled file old enough to be demoted, stay on slow; a second pass
// moves nothing; the record is gone; the record never shows through the
// mount or in tierfs check.
func TestSpillReturns(t *testing.T) {
	f := spSetup(t)
	names, content, inos := prFill(t, f, 20)
	k := prToFree(t, f, 1<<20)
	if r := mvMigrate(t, f); r.MadeRoom["fast"].Files != int64(k) {
		t.Fatalf("premise: making room moved %+v, want %d files", r, k)
	}
	early := names[:k]
	prRequireTiers(t, f, names, early, content, inos)

	fill := spFillShort(t, f)
	young := []string{
		spDeliver(t, f, "1800000000.M1P1.h", "", mvContent("new", 3*prBlock/2)),
		spDeliver(t, f, "1800000001.M2P1.h", "S", mvContent("seen", prBlock)),
	}
	// LMTP saves mail for several recipients once and links it into
	// the others' trees: bob's name goes home with alice's.
	bobs := "mail/ca/bob/new/1800000000.M1P1.h"
	f.mkdirAll(t, filepath.Dir(bobs))
	if err := os.Link(f.path(young[0]), f.path(bobs)); err != nil {
		t.Fatal(err)
	}
	young = append(young, bobs)
	direct := mvUserDir + "/cur/1800000002.M3P1.h:2,"
	mvWrite(t, f, direct, mvContent("direct", prBlock/2), 0)
	young = append(young, direct)
	old := mvUserDir + "/cur/1600000000.M4P1.h:2,S"
	mvWrite(t, f, old, mvContent("old", prBlock/2), 40*24*time.Hour) // spilled when created, then aged
	var total int64
	for _, rel := range append(slices.Clone(young), old) {
		b, err := os.ReadFile(f.path(rel))
		if err != nil {
			t.Fatal(err)
		}
		content[rel], inos[rel] = b, mvIno(t, f, rel)
		requireFileOn(t, f, rel, "slow", string(b))
		if rel != old && rel != bobs {
			total += int64(len(b))
		}
	}
	if n := spRecords(t, f, "slow"); n != 4 {
		t.Errorf("%d records in slow's %s, want the 4 spilled files", n, spillName)
	}
	if n := spStatusSpilled(t, f, "slow"); n != 4 {
		t.Errorf("status: %d spilled files on slow, want 4", n)
	}
	spRequireHidden(t, f)

	// Room for them above target_free: the fill and a few mails go.
	gone := names[len(names)-6:]
	names = names[:len(names)-6]
	for _, rel := range append(fill, gone...) {
		if err := os.Remove(f.path(rel)); err != nil {
			t.Fatal(err)
		}
		delete(content, rel)
		delete(inos, rel)
	}
	dry := mvMigrate(t, f, "--dry-run")
	r := mvMigrate(t, f)
	want := mover.Count{Files: 3, Bytes: total}
	for _, p := range []mvReport{dry, r} {
		if p.Files != 3 || p.Linked != 1 || p.Returned["slow"] != want || len(p.MadeRoom) != 0 || p.Failed != 0 || len(p.Skipped) != 0 {
			t.Errorf("pass (dry run %v) after freeing fast: %+v, want the 3 young spilled files (%+v, one with 2 names) returned", p.DryRun, p, want)
		}
	}
	for _, rel := range young {
		requireFileOn(t, f, rel, "fast", string(content[rel]))
	}
	prRequireTiers(t, f, names, early, content, inos)
	f.requireOnTier(t, old, "slow")
	mvCheckFiles(t, f, content, inos)
	if again := mvMigrate(t, f); again.Files != 0 || len(again.Returned) != 0 || len(again.MadeRoom) != 0 {
		t.Errorf("second pass: %+v, want nothing moved", again)
	}
	if _, err := os.Stat(f.tierPath("slow", spillName)); !os.IsNotExist(err) {
		t.Errorf("slow's %s after every spilled file settled: %v, want it removed", spillName, err)
	}
	if n := spStatusSpilled(t, f, "slow"); n != 0 {
		t.Errorf("status: %d spilled files on slow after the pass, want 0", n)
	}
}

// spRequireHidden checks that the record shows neither in the mount's
// root nor to tierfs check.
func spRequireHidden(t *testing.T, f *fixture) {
	t.Helper()
	if slices.Contains(readdirNames(t, f.mnt), spillName) {
		t.Errorf("the mount's root lists %s", spillName)
	}
	if _, err := os.Lstat(filepath.Join(f.mnt, spillName)); !os.IsNotExist(err) {
		t.Errorf("lstat %s through the mount: %v, want ENOENT", spillName, err)
	}
	f.unmount(t)
	defer f.mount(t)
	if out, _ := mvCheck(t, f, "--config", f.cfgPath); strings.Contains(out, "spilled") {
		t.Errorf("tierfs check mentions the record:\n%s", out)
	}
}

// The daemon is SIGKILLed at each step of a spilled file's way home
// and just before and after the record is rewritten. After a remount
// the file reads back once with its inode number, from fast or from
// slow with its record still there; the next pass brings it home, and
// the record goes.
func TestSpillReturnsCrash(t *testing.T) {
	points := []string{"move-before-copy", "move-after-copy", "move-after-rename", "move-after-switch", "move-after-unlink",
		"spilled-before-rewrite", "spilled-after-rewrite"}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			f := spSetup(t)
			fill := spFillShort(t, f)
			rel := spDeliver(t, f, "1800000000.M1P1.h", "S", mvContent("new", prBlock))
			requireFileOn(t, f, rel, "slow", string(mvContent("new", prBlock)))
			content := map[string][]byte{rel: mvContent("new", prBlock)}
			inos := map[string]uint64{rel: mvIno(t, f, rel)}
			for _, p := range fill {
				os.Remove(f.path(p))
			}
			mvCrashMigrate(t, f, point)
			f.mount(t)
			mvCheckFiles(t, f, content, inos)
			if on := f.tiersHolding(rel); !slices.Equal(on, []string{"fast"}) && spRecords(t, f, "slow") != 1 {
				t.Errorf("after the crash %s is on %v and slow has no record of it", rel, on)
			}
			// A record the crash left for a file already home goes once
			// two complete passes missed it.
			for range 2 {
				if r := mvMigrate(t, f); r.Failed != 0 || len(r.Skipped) != 0 {
					t.Errorf("pass after recovery: %+v", r)
				}
			}
			requireFileOn(t, f, rel, "fast", string(content[rel]))
			mvCheckFiles(t, f, content, inos)
			if n := spRecords(t, f, "slow"); n != 0 {
				t.Errorf("%d records left on slow after the pass, want none", n)
			}
		})
	}
}
