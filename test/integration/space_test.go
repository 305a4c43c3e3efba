package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// spaceConfig has a small tmpfs tier and small fast and slow tiers on
// tmpfs mounts of their own, each with a min_free: mail is demoted to
// slow, the rest has no demote_to. The mover only runs when asked.
func spaceConfig() fsConfig {
	return fsConfig{
		Tiers: []tierSpec{
			{Name: "tmp", Kind: "tmpfs", TmpfsOpts: "size=2m", MinFree: "1MiB"},
			{Name: "fast", Kind: "local", Backing: "tmpfs", TmpfsOpts: "size=8m,nr_inodes=256", MinFree: "3MiB"},
			{Name: "slow", Kind: "local", Backing: "tmpfs", TmpfsOpts: "size=8m", MinFree: "3MiB"},
		},
		Rules:    []ruleSpec{{"volatile/**", "tmp"}, {"mail/**", "fast"}, {"**", "fast"}},
		DemoteTo: map[string]string{"mail/**": "slow"},
		Extra:    "[mover]\ninterval = \"0s\"\n",
	}
}

// spaceBody is a 256 KiB file body that names its file.
func spaceBody(rel string) string { return rel + "\n" + strings.Repeat("m", 256<<10) }

// tierAvail is what statfs of the tier's own directory says is free.
func tierAvail(t testing.TB, fx *fixture, tier string) (bytes, files uint64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(fx.tierPath(tier, ""), &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize), st.Ffree
}

// fillThrough writes files into dir through the mount until tier has
// less than floor bytes free, and returns their paths; every write must
// succeed.
func fillThrough(t testing.TB, fx *fixture, dir, tier string, floor uint64) []string {
	t.Helper()
	fx.mkdirAll(t, dir)
	var out []string
	for i := 0; ; i++ {
		if free, _ := tierAvail(t, fx, tier); free < floor {
			return out
		}
		if i == 64 {
			t.Fatalf("%s still has room after %d files", tier, i)
		}
		rel := fmt.Sprintf("%s/fill-%s-%d", dir, tier, i)
		fx.writeFile(t, rel, spaceBody(rel))
		out = append(out, rel)
	}
}

// waitShort waits for the daemon's n-th warning that tier is short.
func waitShort(t testing.TB, fx *fixture, tier string, n int) {
	t.Helper()
	opsWaitLog(t, fx.d, `msg="tier is short of space; new files go to an overflow tier" tier=`+tier+" ", n)
}

// requireFileOn checks that rel is on tier alone (its backing directory
// and user.tierfs.tier agree) and reads back want through the mount.
func requireFileOn(t testing.TB, fx *fixture, rel, tier, want string) {
	t.Helper()
	fx.requireOnTier(t, rel, tier)
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(fx.path(rel), "user.tierfs.tier", buf)
	if err != nil || string(buf[:n]) != tier {
		t.Errorf("%s: user.tierfs.tier = %q (%v), want %q", rel, buf[:max(n, 0)], err, tier)
	}
	if want == "" {
		return
	}
	got, err := os.ReadFile(fx.path(rel))
	if err != nil || string(got) != want {
		t.Errorf("%s: read back %d bytes (%v), want the %d written", rel, len(got), err, len(want))
	}
}

// spaceStatus is the part of `tierfs status --json` about space.
type spaceStatus struct {
	Tiers []struct {
		Name  string `json:"name"`
		Space *struct {
			Capacity  uint64 `json:"capacity"`
			Free      uint64 `json:"free"`
			FreeFiles uint64 `json:"free_files"`
			MinFree   uint64 `json:"min_free"`
			Short     bool   `json:"short"`
		} `json:"space"`
	} `json:"tiers"`
	Overflows []struct {
		From    string `json:"from"`
		To      string `json:"to"`
		Creates uint64 `json:"creates"`
	} `json:"overflows"`
	NoSpaceRetries uint64 `json:"nospace_retries"`
}

func spaceStatusJSON(t testing.TB, fx *fixture) spaceStatus {
	t.Helper()
	out, err := fx.run("status", "--json", fx.mnt)
	if err != nil {
		t.Fatalf("tierfs status --json: %v\n%s", err, out)
	}
	var rs []spaceStatus
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("tierfs status --json: %v (%d reports)\n%s", err, len(rs), out)
	}
	return rs[0]
}

func (s spaceStatus) overflows(from, to string) uint64 {
	for _, o := range s.Overflows {
		if o.From == from && o.To == to {
			return o.Creates
		}
	}
	return 0
}

func (s spaceStatus) short(tier string) bool {
	for _, t := range s.Tiers {
		if t.Name == tier {
			return t.Space != nil && t.Space.Short
		}
	}
	return false
}

// Once the probe finds a tier below min_free, new files go to the
// overflow tier: a tmpfs rule's to the first persistent tier, mail to
// its demote_to, other files to the next persistent tier in lookup
// order; with every candidate short they stay on their rule's tier,
// which answers ENOSPC once it is really full. No write fails on the way.
func TestSpaceOverflow(t *testing.T) {
	fx := mountTierfs(t, spaceConfig())
	var toSlow uint64

	fillThrough(t, fx, "volatile/ab/u", "tmp", 1<<20)
	waitShort(t, fx, "tmp", 1)
	requireFileOnAfterWrite(t, fx, "volatile/ab/u/after.lock", "fast")

	for _, rel := range fillThrough(t, fx, "mail/ab/u/new", "fast", 3<<20) {
		requireFileOn(t, fx, rel, "fast", spaceBody(rel))
	}
	waitShort(t, fx, "fast", 1)
	requireStatfsOf(t, fx, "mail/ab/u/new", "slow")
	for _, rel := range []string{"mail/ab/u/new/m1", "mail/ab/u/new/m2", "mail/ab/u/tmp/m3", "other/x"} {
		fx.mkdirAll(t, filepath.Dir(rel))
		requireFileOnAfterWrite(t, fx, rel, "slow")
	}
	toSlow += 4 + 2 // and the directories mail/ab/u/tmp and other
	fx.mkdirAll(t, "mail/ab/u2")
	fx.requireOnTier(t, "mail/ab/u2", "slow")
	if err := os.Symlink("m1", fx.path("mail/ab/u/new/link")); err != nil {
		t.Fatal(err)
	}
	fx.requireOnTier(t, "mail/ab/u/new/link", "slow")
	toSlow += 2

	filled := fillThrough(t, fx, "mail/ab/u/cur", "slow", 3<<20)
	toSlow += 1 + uint64(len(filled)) // and mail/ab/u/cur
	for _, rel := range filled {
		requireFileOn(t, fx, rel, "slow", spaceBody(rel))
	}
	waitShort(t, fx, "slow", 1)
	requireFileOnAfterWrite(t, fx, "mail/ab/u/new/both-short", "fast")

	fillInodes(t, fx, "fast", 0)
	_, err := os.OpenFile(fx.path("mail/ab/u/new/nospace"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if !errors.Is(err, unix.ENOSPC) {
		t.Errorf("create with every persistent tier short and fast out of inodes: %v, want ENOSPC", err)
	}
	if got := fx.tiersHolding("mail/ab/u/new/nospace"); len(got) != 0 {
		t.Errorf("the failed create left the file on %v", got)
	}

	st := spaceStatusJSON(t, fx)
	for _, tier := range []string{"tmp", "fast", "slow"} {
		if !st.short(tier) {
			t.Errorf("status --json: %s not short: %+v", tier, st)
		}
	}
	if got := st.overflows("tmp", "fast"); got != 1 {
		t.Errorf("status: %d creates overflowed from tmp to fast, want 1", got)
	}
	if got := st.overflows("fast", "slow"); got != toSlow {
		t.Errorf("status: %d creates overflowed from fast to slow, want %d", got, toSlow)
	}
	out, err := fx.run("status", fx.mnt)
	if err != nil || !strings.Contains(out, "short (min_free 3.0 MiB") || !strings.Contains(out, "overflow: tmp→fast 1 files") {
		t.Errorf("tierfs status: %v, want the short tiers and the overflow counts:\n%s", err, out)
	}
}

// requireStatfsOf checks that statfs of dir through the mount reports
// the filesystem of tier (told by its inode count).
func requireStatfsOf(t testing.TB, fx *fixture, dir, tier string) {
	t.Helper()
	var got, want unix.Statfs_t
	if err := unix.Statfs(fx.path(dir), &got); err != nil {
		t.Fatal(err)
	}
	if err := unix.Statfs(fx.tierPath(tier, ""), &want); err != nil {
		t.Fatal(err)
	}
	if got.Files != want.Files {
		t.Errorf("statfs %s: %d inodes, want %s's %d", dir, got.Files, tier, want.Files)
	}
}

// requireFileOnAfterWrite writes rel through the mount and checks it
// landed on tier.
func requireFileOnAfterWrite(t testing.TB, fx *fixture, rel, tier string) {
	t.Helper()
	fx.writeFile(t, rel, spaceBody(rel))
	requireFileOn(t, fx, rel, tier, spaceBody(rel))
}

// fillInodes creates or removes files in the tier's own directory
// (filler/, not through the mount) until exactly left inodes are free.
func fillInodes(t testing.TB, fx *fixture, tier string, left uint64) {
	t.Helper()
	dir := fx.tierPath(tier, "filler")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		_, free := tierAvail(t, fx, tier)
		switch {
		case free == left:
			return
		case i > 100000:
			t.Fatalf("%s: %d inodes free, cannot get to %d", tier, free, left)
		case free > left:
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) == 0 {
				t.Fatalf("%s: no filler to remove (%v)", tier, err)
			}
			if err := os.Remove(filepath.Join(dir, ents[0].Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// retryConfig has a fast tier of few inodes and no min_free, so that
// only a failed create tells it is full.
func retryConfig() fsConfig {
	return fsConfig{
		Tiers: []tierSpec{
			{Name: "fast", Kind: "local", Backing: "tmpfs", TmpfsOpts: "size=8m,nr_inodes=64"},
			{Name: "slow", Kind: "local"},
		},
		Rules: []ruleSpec{{"**", "fast"}},
		Extra: "[mover]\ninterval = \"0s\"\n",
	}
}

// A create that fails with ENOSPC although the probe's last sample left
// the tier room (here: its last inode goes to the parent directory the
// create makes there first) resamples the tier and is retried once on the
// overflow tier, for each kind of create.
func TestSpaceRetryAfterENOSPC(t *testing.T) {
	fx := newFixture(t, retryConfig())
	cases := []struct {
		name string
		make func(p string) error
	}{
		{"create", func(p string) error { return os.WriteFile(p, []byte("retried\n"), 0o644) }},
		{"mkdir", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"symlink", func(p string) error { return os.Symlink("target", p) }},
		{"mknod", func(p string) error { return unix.Mkfifo(p, 0o644) }},
	}
	for _, c := range cases { // parents only slow holds
		if err := os.Mkdir(fx.tierPath("slow", c.name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fx.mount(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fillInodes(t, fx, "fast", 1)
			if i > 0 { // the probe's next round sees the inode freed
				opsWaitLog(t, fx.d, `msg="tier has space again; new files go to it again" tier=fast `, i)
			}
			rel := c.name + "/x"
			if err := c.make(fx.path(rel)); err != nil {
				t.Fatalf("%s through the mount: %v", c.name, err)
			}
			fx.requireOnTier(t, rel, "slow")
			if c.name == "create" || c.name == "mkdir" { // user.* xattrs are for files and directories
				requireFileOn(t, fx, rel, "slow", "")
			}
			if !fileExists(fx.tierPath("fast", c.name)) {
				t.Errorf("fast has no copy of %s/: the create was not tried there first", c.name)
			}
			st := spaceStatusJSON(t, fx)
			if st.NoSpaceRetries != uint64(i+1) || st.overflows("fast", "slow") != uint64(i+1) {
				t.Errorf("status: %d retries, %d overflows fast→slow; want %d each", st.NoSpaceRetries, st.overflows("fast", "slow"), i+1)
			}
			waitShort(t, fx, "fast", i+1) // logged by the resample, before the probe
		})
	}
	got, err := os.ReadFile(fx.path("create/x"))
	if err != nil || string(got) != "retried\n" {
		t.Errorf("create/x reads %q (%v)", got, err)
	}
}

// The daemon is killed on either side of the retry on the overflow tier:
// after the first try left the parent directory on fast, and after the
// file was made on slow. After a new mount the directory's old entry is
// there, the new file exists on slow alone or nowhere, and creating it
// again works.
func TestSpaceRetryCrash(t *testing.T) {
	for _, tc := range []struct {
		point string
		made  bool
	}{{"create-before-retry", false}, {"create-after-retry", true}} {
		t.Run(tc.point, func(t *testing.T) {
			fx := newFixture(t, retryConfig())
			if err := os.MkdirAll(fx.tierPath("slow", "d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(fx.tierPath("slow", "d/old"), []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			fx.mount(t, crashPointEnv+"="+tc.point)
			fillInodes(t, fx, "fast", 1)
			if err := os.WriteFile(fx.path("d/new"), []byte("new\n"), 0o644); err == nil {
				t.Fatal("create succeeded although the daemon was to crash in it")
			}
			mvWaitKilled(t, fx)
			if got := fx.tiersHolding("d/new"); tc.made != (len(got) == 1 && got[0] == "slow") || !tc.made && len(got) != 0 {
				t.Fatalf("premise: after the crash at %s d/new is on %v", tc.point, got)
			}
			fillInodes(t, fx, "fast", 8)
			fx.mount(t)
			if got := readdirNames(t, fx.path("d")); !tc.made && len(got) != 1 || tc.made && len(got) != 2 {
				t.Errorf("d/ after the crash: %v", got)
			}
			if got, err := os.ReadFile(fx.path("d/old")); err != nil || string(got) != "old\n" {
				t.Errorf("d/old after the crash: %q (%v)", got, err)
			}
			if err := os.WriteFile(fx.path("d/new"), []byte("again\n"), 0o644); err != nil {
				t.Fatalf("create d/new again: %v", err)
			}
			if tc.made {
				fx.requireOnTier(t, "d/new", "slow") // written over where it was made
			}
			if got, err := os.ReadFile(fx.path("d/new")); err != nil || string(got) != "again\n" {
				t.Errorf("d/new: %q (%v)", got, err)
			}
		})
	}
}

// min_free changes on reload, without a remount: raised above what the
// tier has free, new files overflow; lowered again, they return to the
// rule's tier (the log says both).
func TestSpaceReloadMinFree(t *testing.T) {
	cfg := spaceConfig()
	fx := mountTierfs(t, cfg)
	fx.mkdirAll(t, "other")
	requireFileOnAfterWrite(t, fx, "other/before", "fast")
	reload := func(minFree string) {
		t.Helper()
		next := cfg
		next.Tiers = slices.Clone(cfg.Tiers) // with the paths the fixture gave them
		next.Tiers[1].MinFree = minFree
		fx.writeConfig(t, next.toml())
		if out, err := fx.run("reload", fx.mnt); err != nil {
			t.Fatalf("tierfs reload with fast min_free %s: %v\n%s", minFree, err, out)
		}
	}
	reload("8MiB") // all of fast's 8 MiB tmpfs
	waitShort(t, fx, "fast", 1)
	if s := spaceStatusJSON(t, fx); !s.short("fast") || s.minFree("fast") != 8<<20 {
		t.Fatalf("status after raising min_free: short %v, min_free %d; want short with 8 MiB", s.short("fast"), s.minFree("fast"))
	}
	requireFileOnAfterWrite(t, fx, "other/during", "slow")
	reload("1MiB")
	opsWaitLog(t, fx.d, `msg="tier has space again; new files go to it again" tier=fast `, 1)
	requireFileOnAfterWrite(t, fx, "other/after", "fast")
}

func (s spaceStatus) minFree(tier string) uint64 {
	for _, t := range s.Tiers {
		if t.Name == tier && t.Space != nil {
			return t.Space.MinFree
		}
	}
	return 0
}
