package integration

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/mover"
)

// mvSeed writes a mix of files: old mail (to demote), young mail, a
// hard-linked old message (it moves with both names), one linked into
// index/ as well (it stays), misplaced files, indexes. It returns the
// paths that should end on slow, one name of the moving linked message
// among them.
func mvSeed(t *testing.T, f *fixture) []string {
	t.Helper()
	old := 40 * 24 * time.Hour
	var slow []string
	for i := range 6 {
		rel := fmt.Sprintf("%s/cur/%d.M%dP1.h,S=%d:2,S", mvUserDir, 1700000000+i, i, 5000+i)
		mvWrite(t, f, rel, mvContent(rel, 5000+i), old)
		slow = append(slow, rel)
	}
	for i := range 3 {
		rel := fmt.Sprintf("mail/ca/bob/storage/m.%d", i+1)
		mvWrite(t, f, rel, mvContent(rel, 70000*(i+1)), old)
		slow = append(slow, rel)
	}
	mvWrite(t, f, mvUserDir+"/new/9.M9P9.h", []byte("young"), 0)
	mvWrite(t, f, "index/f5/alice/dovecot.index", []byte("index"), old)
	linked := mvUserDir + "/cur/8.M8P8.h:2,S"
	mvWrite(t, f, linked, []byte("linked"), old)
	if err := os.Link(f.path(linked), f.path(mvUserDir+"/cur/8.M8P8.h:2,ST")); err != nil {
		t.Fatal(err)
	}
	slow = append(slow, linked)
	kept := mvUserDir + "/cur/7.M7P7.h:2,S"
	mvWrite(t, f, kept, []byte("kept"), old)
	if err := os.Link(f.path(kept), f.path("index/f5/alice/7.M7P7.h:2,S")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		slow = append(slow, mvMisplaced(t, f, fmt.Sprintf("a%d", i), mvContent("a", 3000)))
	}
	return slow
}

// The dry run changes nothing on any tier (compared byte for byte, with
// times and modes) and its counts are the real run's.
func TestMoverDryRun(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	slow := mvSeed(t, f)
	before := mvSnapshot(t, f)

	dry := mvMigrate(t, f, "--dry-run")
	mvSameSnapshot(t, before, mvSnapshot(t, f))
	if !dry.DryRun || dry.Files != int64(len(slow)) || dry.Skipped[mover.SkipLinkedPartial] != 1 || len(dry.Skipped) != 1 {
		t.Errorf("dry run: %+v, want %d files and the file linked into index/ skipped", dry, len(slow))
	}
	// The summary for a person says the same.
	cmd := exec.Command(f.bin, "migrate", "--dry-run", f.mnt)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("would move %d files", dry.Files)) ||
		!strings.Contains(string(out), mover.SkipLinkedPartial+" 1") {
		t.Errorf("tierfs migrate --dry-run: %v\n%s", err, out)
	}
	mvSameSnapshot(t, before, mvSnapshot(t, f))

	real := mvMigrate(t, f)
	if real.DryRun || real.Files != dry.Files || real.Bytes != dry.Bytes || !maps.Equal(real.Skipped, dry.Skipped) || real.Failed != 0 {
		t.Errorf("real run %+v differs from the dry run %+v", real, dry)
	}
	after := mvSnapshot(t, f)
	for _, rel := range slow {
		f.requireOnTier(t, rel, "slow")
		if b, a := before[rel], after[rel]; a.Sum != b.Sum || !a.Mtime.Equal(b.Mtime) || a.Mode != b.Mode {
			t.Errorf("%s changed in the move: %+v -> %+v", rel, b, a)
		}
	}
	f.requireOnTier(t, mvUserDir+"/cur/8.M8P8.h:2,ST", "slow")
	for _, rel := range []string{mvUserDir + "/new/9.M9P9.h", "index/f5/alice/dovecot.index", mvUserDir + "/cur/7.M7P7.h:2,S", "index/f5/alice/7.M7P7.h:2,S"} {
		f.requireOnTier(t, rel, "fast")
	}
	if again := mvMigrate(t, f, "--dry-run"); again.Files != 0 {
		t.Errorf("dry run after the real one: %+v, want nothing to move", again)
	}
}

// --user and --max-bytes narrow a pass, in the dry run as in the real one.
func TestMoverUserAndMaxBytes(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	mvSeed(t, f)
	dry := mvMigrate(t, f, "--dry-run", "--user", "bob", "--max-bytes", "300000")
	real := mvMigrate(t, f, "--user", "bob", "--max-bytes", "300000")
	if dry.Files != 2 || dry.Bytes != 210000 || dry.Stopped != "max-bytes reached" || real.Files != dry.Files || real.Bytes != dry.Bytes {
		t.Errorf("bob with 300000 bytes: dry %+v, real %+v; want m.1 and m.2 (210000 bytes)", dry, real)
	}
	if got := f.tiersHolding(mvUserDir + "/cur/1700000000.M0P1.h,S=5000:2,S"); len(got) != 1 || got[0] != "fast" {
		t.Errorf("alice's mail moved by a pass for bob: on %v", got)
	}
	if out, err := mvMigrateErr(f, "--max-bytes", "lots"); err == nil || !strings.Contains(string(out), "--max-bytes") {
		t.Errorf("bad --max-bytes: %v\n%s", err, out)
	}
}

// only_seen reads flags and delivery time from maildir names; min_size
// keeps small messages.
func TestMoverOnlySeenMaildir(t *testing.T) {
	f := mountTierfs(t, mvConfig("only_seen = true\nmin_size = 1000\n"))
	now := time.Now()
	old := now.Add(-40 * 24 * time.Hour).Unix()
	young := now.Add(-2 * 24 * time.Hour).Unix()
	cases := []struct {
		name string
		size int
		tier string
	}{
		{fmt.Sprintf("cur/%d.M1P1.h,S=2000:2,S", old), 2000, "slow"},   // seen, old, big
		{fmt.Sprintf("cur/%d.M2P1.h,S=2000:2,FRS", old), 2000, "slow"}, // seen among others
		{fmt.Sprintf("cur/%d.M3P1.h,S=2000:2,R", old), 2000, "fast"},   // not seen
		{fmt.Sprintf("cur/%d.M4P1.h,S=2000:2,S", young), 2000, "fast"}, // delivered recently (mtime is old)
		{fmt.Sprintf("cur/%d.M5P1.h,S=500:2,S", old), 500, "fast"},     // too small
		{fmt.Sprintf("new/%d.M6P1.h,S=2000", old), 2000, "fast"},       // new/: no flags
		{"dovecot-uidlist", 2000, "fast"},                              // not a message
	}
	for _, c := range cases {
		// mtime is old for all: the name decides, not the mtime.
		mvWrite(t, f, mvUserDir+"/"+c.name, mvContent(c.name, c.size), 60*24*time.Hour)
	}
	r := mvMigrate(t, f)
	if r.Files != 2 {
		t.Errorf("pass: %+v, want 2 files moved", r)
	}
	for _, c := range cases {
		f.requireOnTier(t, mvUserDir+"/"+c.name, c.tier)
	}
}
