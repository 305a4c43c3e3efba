package integration

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Files, directories and symlinks land on the tier their rule names, as
// the tier's own directory shows; parent directories are made on that tier
// on demand with the mode and owner tierfs shows for them.
func TestPlacementFollowsRules(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	cases := []struct{ path, tier string }{
		{"volatile/f5/alice/dovecot.lock", "tmp"},
		{"index/f5/alice/dovecot.index", "fast"},
		{"mail/f5/alice/cur/1.M1P1.host:2,S", "slow"},
		{"mail/f5/alice/new/1.M2P1.host", "fast"},
		{"mail/f5/alice/.Sent/cur/2.M1P1.host:2,S", "slow"},
		{"mail/f5/alice/dovecot-uidlist", "fast"},
		{"span/d/x.tmp", "tmp"},
		{"span/d/x.slow", "slow"},
		{"span/d/x", "fast"},
		{"top-level", "fast"},
	}
	for _, c := range cases {
		fx.mkdirAll(t, filepath.Dir(c.path))
		fx.writeFile(t, c.path, c.path)
		fx.requireOnTier(t, c.path, c.tier)
		backing, err := os.ReadFile(fx.tierPath(c.tier, c.path))
		if err != nil || string(backing) != c.path {
			t.Errorf("%s: backing file on %s holds %q (%v)", c.path, c.tier, backing, err)
		}
	}
	for _, c := range []struct{ path, tier string }{{"volatile/newdir", "tmp"}, {"span/d/dir.slow", "slow"}} {
		if err := unix.Mkdir(fx.path(c.path), 0o755); err != nil {
			t.Fatal(err)
		}
		fx.requireOnTier(t, c.path, c.tier)
	}
	if err := unix.Symlink("x", fx.path("span/d/link.tmp")); err != nil {
		t.Fatal(err)
	}
	fx.requireOnTier(t, "span/d/link.tmp", "tmp")
}

// Parent directories created on demand on another tier copy the mode and
// owner of the directory as tierfs shows it.
func TestPlacementParentsCopyModeAndOwner(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "mail/ca/bob")
	if err := os.Chmod(fx.path("mail/ca/bob"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(fx.path("mail/ca/bob"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	fx.requireOnTier(t, "mail/ca/bob", "fast")
	fx.mkdirAll(t, "mail/ca/bob/cur")
	fx.writeFile(t, "mail/ca/bob/cur/m1", "m1")
	fx.requireOnTier(t, "mail/ca/bob/cur/m1", "slow")
	var st unix.Stat_t
	if err := unix.Lstat(fx.tierPath("slow", "mail/ca/bob"), &st); err != nil {
		t.Fatalf("parent on the slow tier: %v", err)
	}
	if st.Mode&0o7777 != 0o750 || st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("parent made on demand on slow: mode %#o owner %d:%d, want 0750 1234:5678", st.Mode&0o7777, st.Uid, st.Gid)
	}
}

// Rename and link never move data: the file stays on the tier that holds
// it, even when its new name's rule points elsewhere (maildir's new/ → cur/
// rename is the everyday case).
func TestPlacementStickyOnRenameAndLink(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "mail/f5/alice/new")
	fx.mkdirAll(t, "mail/f5/alice/cur")
	fx.mkdirAll(t, "volatile/f5/alice")
	fx.mkdirAll(t, "index")
	fx.mkdirAll(t, "span/d")
	moves := []struct{ from, to, tier string }{
		{"mail/f5/alice/new/1.M1", "mail/f5/alice/cur/1.M1:2,", "fast"},
		{"volatile/f5/alice/x", "index/x", "tmp"},
		{"span/d/a.slow", "span/d/a", "slow"},
	}
	for _, m := range moves {
		fx.writeFile(t, m.from, m.from)
		fx.requireOnTier(t, m.from, m.tier)
		if err := os.Rename(fx.path(m.from), fx.path(m.to)); err != nil {
			t.Fatalf("rename %s → %s: %v", m.from, m.to, err)
		}
		fx.requireOnTier(t, m.to, m.tier)
		mustContent(t, fx.path(m.to), m.from)
	}
	if err := os.Link(fx.path("span/d/a"), fx.path("span/d/b.tmp")); err != nil {
		t.Fatalf("link: %v", err)
	}
	fx.requireOnTier(t, "span/d/b.tmp", "slow")
}

// A name present on two tiers (as a crash in the middle of a move leaves
// it) shows once in readdir, and lookup returns the higher-priority copy:
// here the fast tier, which is both the rule's tier for the name and listed
// before the slow tier.
func TestPlacementDuplicateShowsOnce(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	for tier, content := range map[string]string{"fast": "from fast", "slow": "from the slow tier"} {
		dir := fx.tierPath(tier, "span/d")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "dup"), content)
	}
	mustWrite(t, fx.tierPath("slow", "span/d/only.slow"), "only on slow")
	fx.mount(t)
	if got := readdirNames(t, fx.path("span/d")); !slices.Equal(got, []string{"dup", "only.slow"}) {
		t.Errorf("readdir: %v, want [dup only.slow]", got)
	}
	mustContent(t, fx.path("span/d/dup"), "from fast")
	if st := lstat(t, fx.path("span/d/dup")); st.Size != int64(len("from fast")) {
		t.Errorf("stat size %d, want the fast copy's %d", st.Size, len("from fast"))
	}
	mustContent(t, fx.path("span/d/only.slow"), "only on slow")
}

// Readdir merges the tiers: every name once, d_type kept, and tierfs's own
// .tierfs* names at tier roots hidden.
func TestReaddirUnion(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "span/d/sub.slow")
	fx.mkdirAll(t, "span/d/sub")
	fx.writeFile(t, "span/d/f.tmp", "")
	fx.writeFile(t, "span/d/f", "")
	if err := unix.Symlink("f", fx.path("span/d/l.slow")); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint8{".": unix.DT_DIR, "..": unix.DT_DIR, "sub.slow": unix.DT_DIR, "sub": unix.DT_DIR,
		"f.tmp": unix.DT_REG, "f": unix.DT_REG, "l.slow": unix.DT_LNK}
	got := map[string]uint8{}
	for _, e := range readDirents(t, fx.path("span/d")) {
		if _, dup := got[e.name]; dup {
			t.Errorf("readdir lists %q twice", e.name)
		}
		got[e.name] = e.typ
	}
	for name, typ := range want {
		if g, ok := got[name]; !ok || g != typ {
			t.Errorf("readdir entry %q: d_type %d (present %v), want %d", name, g, ok, typ)
		}
	}
	if len(got) != len(want) {
		t.Errorf("readdir: %v, want exactly %v", got, want)
	}
	for _, name := range readdirNames(t, fx.mnt) {
		if len(name) >= 7 && name[:7] == ".tierfs" {
			t.Errorf("mount root lists tierfs's own %q", name)
		}
	}
}

// A directory's st_nlink counts its subdirectories on every tier, so that
// it is 2 exactly when it has none (Dovecot's \NoChildren, find's leaf
// optimisation), by GETATTR and on an open descriptor.
func TestDirNlinkAcrossTiers(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		m := filepath.Join(tg.dir, "m")
		for _, d := range []string{m, m + "/sub", m + "/sub.slow", m + "/sub.tmp"} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if tg.name == "spanning" {
			if got := tg.fx.tiersHolding(tg.rel + "/m"); len(got) != 3 {
				t.Fatalf("premise: m should be on all three tiers, is on %v", got)
			}
		}
		if got := lstat(t, m).Nlink; got != 5 {
			t.Errorf("st_nlink of a directory with 3 subdirectories: %d, want 5", got)
		}
		if got := lstat(t, m+"/sub.slow").Nlink; got != 2 {
			t.Errorf("st_nlink of a directory without subdirectories: %d, want 2", got)
		}
		fd, err := unix.Open(m, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		for _, sub := range []string{"sub.slow", "sub.tmp", "sub"} {
			if err := unix.Rmdir(filepath.Join(m, sub)); err != nil {
				t.Fatal(err)
			}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 2 {
			t.Errorf("fstat of a directory whose subdirectories were removed: nlink %d (%v), want 2", st.Nlink, err)
		}
	})
}

// The same count comes in LOOKUP and READDIRPLUS replies: a fresh mount
// with long attribute timeouts lists, or looks up, a directory whose
// subdirectories are on other tiers, and stat answers from that reply.
func TestDirNlinkAcrossTiersLookup(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	for _, d := range []string{"span/a/sub.slow", "span/a/sub.tmp", "span/b/sub.slow", "span/b/sub.tmp"} {
		fx.mkdirAll(t, d)
	}
	for _, d := range []string{"span/a", "span/b"} {
		if got := fx.tiersHolding(d); len(got) != 3 {
			t.Fatalf("premise: %s should be on all three tiers, is on %v", d, got)
		}
	}
	fx.unmount(t)
	fx.mount(t)
	if got := lstat(t, fx.path("span/a")).Nlink; got != 4 {
		t.Errorf("st_nlink from a LOOKUP of a directory with 2 subdirectories on other tiers: %d, want 4", got)
	}
	readdirNames(t, fx.path("span"))
	if got := lstat(t, fx.path("span/b")).Nlink; got != 4 {
		t.Errorf("st_nlink from a READDIRPLUS of a directory with 2 subdirectories on other tiers: %d, want 4", got)
	}
}
