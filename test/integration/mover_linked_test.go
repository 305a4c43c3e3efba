package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/mover"
)

// mvLinkedNames are the names of one message Dovecot saved once and
// linked into another folder and another user's tree (LMTP to several
// recipients, IMAP COPY).
var mvLinkedNames = []string{
	mvUserDir + "/cur/1.M1P1.h:2,S",
	mvUserDir + "/.Lists/cur/1.M1P1.h:2,S",
	"mail/ca/bob/cur/1.M1P1.h:2,S",
}

// mvWriteLinked writes content at names[0] through the mount, aged by
// age, and links the other names to it; it returns the st_ino the mount
// shows.
func mvWriteLinked(t *testing.T, f *fixture, names []string, content []byte, age time.Duration) uint64 {
	t.Helper()
	mvWrite(t, f, names[0], content, age)
	for _, n := range names[1:] {
		f.mkdirAll(t, dirOf(n))
		if err := os.Link(f.path(names[0]), f.path(n)); err != nil {
			t.Fatalf("link %s %s through tierfs: %v", names[0], n, err)
		}
	}
	return mvLinkedIntact(t, f, names, content, 0)
}

func dirOf(rel string) string { return rel[:strings.LastIndexByte(rel, '/')] }

// mvLinkedIntact checks that names are one file through the mount (one
// st_ino, equal to ino unless 0, st_nlink the number of names) with the
// given content, and that one tier holds all of them as one backing
// file. It returns the st_ino and the tier.
func mvLinkedIntact(t *testing.T, f *fixture, names []string, content []byte, ino uint64) uint64 {
	t.Helper()
	tier := f.tiersHolding(names[0])
	if len(tier) != 1 {
		t.Fatalf("%s held by tiers %v, want one", names[0], tier)
	}
	var backing uint64
	for _, n := range names {
		var st, bst unix.Stat_t
		if err := unix.Stat(f.path(n), &st); err != nil {
			t.Fatalf("stat %s through tierfs: %v", n, err)
		}
		if ino == 0 {
			ino = st.Ino
		}
		if st.Ino != ino || uint64(st.Nlink) != uint64(len(names)) {
			t.Errorf("%s through tierfs: st_ino %#x nlink %d, want %#x and %d", n, st.Ino, st.Nlink, ino, len(names))
		}
		if got, err := os.ReadFile(f.path(n)); err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s through tierfs: %d bytes (%v), want the %d bytes written", n, len(got), err, len(content))
		}
		if held := f.tiersHolding(n); len(held) != 1 || held[0] != tier[0] {
			t.Errorf("%s held by tiers %v, want only %s like %s", n, held, tier[0], names[0])
			continue
		}
		if err := unix.Lstat(f.tierPath(tier[0], n), &bst); err != nil {
			t.Fatal(err)
		}
		if backing == 0 {
			backing = bst.Ino
		}
		if bst.Ino != backing || uint64(bst.Nlink) != uint64(len(names)) {
			t.Errorf("%s on tier %s: inode %d nlink %d, want %d and %d (one file)", n, tier[0], bst.Ino, bst.Nlink, backing, len(names))
		}
	}
	return ino
}

// A message with three names in two folders and two users' trees ages
// and tierfs migrate moves it with all its names: one file on slow, the
// inode number the mount showed before, a write through one name seen
// through the others. A file with a name whose rule keeps it on fast
// stays, and migrate says why.
func TestMoverHardLinked(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	content := mvContent("linked", 300000)
	ino := mvWriteLinked(t, f, mvLinkedNames, content, 40*24*time.Hour)

	kept := []string{mvUserDir + "/cur/2.M2P2.h:2,S", "index/f5/alice/2.M2P2.h:2,S"}
	keptContent := mvContent("kept", 5000)
	keptIno := mvWriteLinked(t, f, kept, keptContent, 40*24*time.Hour)

	dry := mvMigrate(t, f, "--dry-run")
	if dry.Files != 1 || dry.Bytes != int64(len(content)) {
		t.Errorf("dry run: %+v, want the linked file once: 1 file of %d bytes", dry, len(content))
	}
	r := mvMigrate(t, f)
	if r.Files != 1 || r.Bytes != int64(len(content)) || r.Failed != 0 || r.Skipped[mover.SkipLinkedPartial] != 1 {
		t.Errorf("migrate: %+v, want 1 file of %d bytes and one skipped as %q", r, len(content), mover.SkipLinkedPartial)
	}
	if tier := f.tiersHolding(mvLinkedNames[0]); len(tier) != 1 || tier[0] != "slow" {
		t.Fatalf("after migrate the linked file is on %v, want slow", tier)
	}
	mvLinkedIntact(t, f, mvLinkedNames, content, ino)
	f.requireOnTier(t, kept[0], "fast")
	mvLinkedIntact(t, f, kept, keptContent, keptIno)

	// Still one file: a write through one name shows through the others.
	more := []byte("appended through the second name\n")
	fd, err := unix.Open(f.path(mvLinkedNames[1]), unix.O_WRONLY|unix.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := unix.Write(fd, more)
	unix.Close(fd)
	if werr != nil {
		t.Fatal(werr)
	}
	mvLinkedIntact(t, f, mvLinkedNames, append(bytes.Clone(content), more...), ino)

	out, err := f.run("migrate", f.mnt)
	if err != nil || !strings.Contains(out, mover.SkipLinkedPartial+" 1") {
		t.Errorf("tierfs migrate does not say why the linked file stays (%v):\n%s", err, out)
	}
	if out, failed := mvCheck(t, f, "--config", f.cfgPath); failed {
		t.Errorf("tierfs check after the linked move:\n%s", out)
	}
}

// The daemon kills itself at each step of a hard-linked move. After the
// remount every name is there, the names are one file on one tier with
// the inode number they had, tierfs check is clean, and the next pass
// moves the file.
func TestMoverHardLinkedCrash(t *testing.T) {
	steps := []struct {
		point string
		tiers []string // where the first name is right after the crash
	}{
		{"move-before-copy", []string{"fast"}},
		{"move-after-copy", []string{"fast"}},
		{"move-after-rename", []string{"fast", "slow"}},
		{"move-after-switch", []string{"fast", "slow"}},
		{"move-after-unlink", []string{"slow"}},
	}
	for _, st := range steps {
		t.Run(st.point, func(t *testing.T) {
			f, content, ino := mvLinkedCrash(t, st.point)
			if got := f.tiersHolding(mvLinkedNames[0]); strings.Join(got, ",") != strings.Join(st.tiers, ",") {
				t.Fatalf("premise: after a crash at %s %s is on %v, want %v", st.point, mvLinkedNames[0], got, st.tiers)
			}
			mvLinkedRecovers(t, f, content, ino)
		})
	}
}

// A crash while the commit unlinks the source names, or while a replay
// settles the names, leaves some names on one tier only; the replay
// must still end with one file on one tier. The states are made by hand
// from the one a crash at move-after-rename leaves: every name on both
// tiers and the intent in the journal.
func TestMoverLinkedReplay(t *testing.T) {
	for _, c := range []struct {
		name        string
		tier, names string // remove names[...] on tier before the remount
		settled     string // the tier the names end on
	}{
		{"unlinking", "fast", "0", "slow"},
		{"forward", "fast", "01", "slow"},
		{"back", "slow", "02", "fast"},
		{"linking", "slow", "12", "fast"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, content, ino := mvLinkedCrash(t, "move-after-rename")
			for _, i := range c.names {
				if err := os.Remove(f.tierPath(c.tier, mvLinkedNames[i-'0'])); err != nil {
					t.Fatal(err)
				}
			}
			f.mount(t)
			if got := f.tiersHolding(mvLinkedNames[2]); len(got) != 1 || got[0] != c.settled {
				t.Errorf("after the replay the names are on %v, want %s", got, c.settled)
			}
			mvLinkedIntact(t, f, mvLinkedNames, content, ino)
			if out, failed := mvCheck(t, f, "--config", f.cfgPath); failed {
				t.Errorf("tierfs check after the replay:\n%s", out)
			}
		})
	}
}

// mvLinkedCrash writes the linked message, remounts with the daemon set
// to kill itself at point, runs migrate and waits for the kill. It
// returns the fixture (unmounted), the content and the st_ino.
func mvLinkedCrash(t *testing.T, point string) (*fixture, []byte, uint64) {
	t.Helper()
	f := mountTierfs(t, mvConfig(""))
	content := mvContent("crash", 200000)
	ino := mvWriteLinked(t, f, mvLinkedNames, content, 40*24*time.Hour)
	mvCrashMigrate(t, f, point)
	return f, content, ino
}

// mvLinkedRecovers remounts after a crash and checks the linked file is
// whole, check is clean and the next pass moves it.
func mvLinkedRecovers(t *testing.T, f *fixture, content []byte, ino uint64) {
	t.Helper()
	f.mount(t)
	mvLinkedIntact(t, f, mvLinkedNames, content, ino)
	if left := mvOwnEntries(f, ".tierfs-moving"); len(left) > 0 {
		t.Errorf("temporaries left after the remount: %v", left)
	}
	if rec := mvOwnEntries(f, ".tierfs-recovered"); len(rec) > 0 {
		t.Errorf("copies set aside although all were identical: %v", rec)
	}
	if out, failed := mvCheck(t, f, "--config", f.cfgPath); failed {
		t.Errorf("tierfs check after the remount:\n%s", out)
	}
	if r := mvMigrate(t, f); r.Failed != 0 || len(r.Skipped) != 0 {
		t.Errorf("pass after recovery: %+v", r)
	}
	f.requireOnTier(t, mvLinkedNames[0], "slow")
	mvLinkedIntact(t, f, mvLinkedNames, content, ino)
}

// A source name that cannot be unlinked after the commit (here an
// immutable directory or file on an ext4 fast tier) keeps the intent, so
// that the next mount settles every name on one tier: forward when some
// source names went, back when none did. Ended, it would leave the name
// to tierfs check, which settles each name on its own. With check, a
// repair while the name still cannot be unlinked fails, says why and
// changes nothing; once it can, a repair finishes the move before the
// mount.
func TestMoverLinkedLeft(t *testing.T) {
	for _, c := range []struct {
		name, immutable string // made immutable on fast before the move
		settled         string
		check           bool // check --repair before and after chattr -i
	}{
		{"one", dirOf(mvLinkedNames[1]), "slow", false},
		{"all", mvLinkedNames[0], "fast", false},
		{"check", dirOf(mvLinkedNames[1]), "slow", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := mvConfig("")
			cfg.Tiers[1].Backing = "ext4"
			f := mountTierfs(t, cfg)
			content := mvContent("left", 50000)
			ino := mvWriteLinked(t, f, mvLinkedNames, content, 40*24*time.Hour)
			chattr(t, "+i", f.tierPath("fast", c.immutable))
			t.Cleanup(func() { chattr(t, "-i", f.tierPath("fast", c.immutable)) })
			if out, err := mvMigrateErr(f); err == nil || !strings.Contains(string(out), `"failed": 1`) {
				t.Errorf("migrate: %v\n%s\nwant the move reported failed", err, out)
			}
			for _, n := range mvLinkedNames {
				if got, err := os.ReadFile(f.path(n)); err != nil || !bytes.Equal(got, content) {
					t.Errorf("%s through tierfs after the failed unlink: %d bytes (%v)", n, len(got), err)
				}
			}
			if c.check {
				f.unmount(t)
				mvLinkedLeftRepair(t, f, c.immutable)
			}
			chattr(t, "-i", f.tierPath("fast", c.immutable))
			f.unmount(t)
			if c.check {
				if out, failed := mvCheck(t, f, "--config", f.cfgPath, "--repair"); failed || !strings.Contains(out, "[repaired: finished as the mount would]") {
					t.Errorf("check --repair once the name can go:\n%s", out)
				}
			}
			f.mount(t)
			if got := f.tiersHolding(mvLinkedNames[1]); len(got) != 1 || got[0] != c.settled {
				t.Errorf("after the remount %s is on %v, want %s", mvLinkedNames[1], got, c.settled)
			}
			mvLinkedIntact(t, f, mvLinkedNames, content, ino)
			if out, failed := mvCheck(t, f, "--config", f.cfgPath); failed {
				t.Errorf("tierfs check after the remount:\n%s", out)
			}
		})
	}
}

// mvLinkedLeftRepair runs check --repair while a source name of the
// linked move cannot be unlinked: the replay fails, the repair exits
// non-zero naming the intent and the reason, and no file changes.
func mvLinkedLeftRepair(t *testing.T, f *fixture, immutable string) {
	t.Helper()
	before := mvSnapshot(t, f)
	out, failed := mvCheck(t, f, "--config", f.cfgPath, "--repair")
	t.Logf("check --repair with %s immutable:\n%s", immutable, out)
	want := "journal: move-linked " + mvLinkedNames[2]
	if !failed || !strings.Contains(out, want) || !strings.Contains(out, "cannot finish it: ") ||
		!strings.Contains(out, "operation not permitted; the names it changes are left alone") || strings.Contains(out, "[repaired") {
		t.Errorf("check --repair with %s immutable: failed=%v, want the intent reported unfinished with its reason:\n%s", immutable, failed, out)
	}
	after := mvSnapshot(t, f)
	for _, snap := range []map[string]*mvEntry{before, after} {
		delete(snap, ".tierfs-lock") // the repair's lock names its holder
	}
	mvSameSnapshot(t, before, after)
}

func chattr(t *testing.T, flag, p string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s: %v %s", flag, p, err, out)
	}
}
