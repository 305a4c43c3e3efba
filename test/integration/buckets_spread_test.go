package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spreadUser is a user whose bucket's member is known for three and for
// four members (ranges 00..55, 56..aa, ab..ff and 00..3f, 40..7f,
// 80..bf, c0..ff).
type spreadUser struct{ name, hash, of3, of4 string }

// spreadUsers cover every way a bucket goes when a fourth export joins:
// staying on its member, or moving to the next one.
var spreadUsers = []spreadUser{
	{"user4", "09", "nfs1", "nfs1"},
	{"user11", "46", "nfs1", "nfs2"},
	{"user1", "7c", "nfs2", "nfs2"},
	{"user6", "92", "nfs2", "nfs3"},
	{"user10", "b1", "nfs3", "nfs3"},
	{"user2", "eb", "nfs3", "nfs4"},
}

// spreadFixture prepares tiers tmp, fast and nfs1..nfs4 (each member on
// backing: "tmpfs" for a tmpfs of its own, "" for a directory) and mounts tierfs with mail
// demoted over the first n members.
func spreadFixture(t *testing.T, backing string, n int) *fixture {
	t.Helper()
	cfg := fsConfig{Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}}}
	for i := 1; i <= 4; i++ {
		cfg.Tiers = append(cfg.Tiers, tierSpec{Name: "nfs" + strconv.Itoa(i), Kind: "nfs", Backing: backing})
	}
	f := prepareFixture(t, &cfg)
	spreadConfigure(t, f, n)
	f.mount(t)
	return f
}

// spreadConfigure writes the config with the first n members and runs
// tierfs init, as an operator adding an export does. The kernel caches
// nothing, so that every access reaches tierfs.
func spreadConfigure(t *testing.T, f *fixture, n int) { spreadConfig(t, f, f.order[:2+n], n) }

// spreadConfig writes the config with the tiers names and the first n
// exports among them in the mail rule's list, and runs tierfs init.
func spreadConfig(t *testing.T, f *fixture, names []string, n int) {
	t.Helper()
	var b strings.Builder
	var members []string
	for _, name := range names {
		kind := map[string]string{"tmp": "tmpfs", "fast": "local"}[name]
		if kind == "" {
			kind = "nfs"
			if len(members) < n {
				members = append(members, strconv.Quote(name))
			}
		}
		fmt.Fprintf(&b, "[[tier]]\nname = %q\npath = %q\nkind = %q\n\n", name, f.tiers[name], kind)
	}
	fmt.Fprintf(&b, `[[rule]]
match = "volatile/**"
tier = "tmp"

[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = [%s]

[[rule]]
match = "**"
tier = "fast"

[mover]
interval = "0s"

[kernel]
entry_timeout = "0s"
attr_timeout = "0s"
negative_timeout = "0s"
`, strings.Join(members, ", "))
	f.writeConfig(t, b.String())
	runOK(t, f, "init", "--config", f.cfgPath, "--state-dir", f.stateDir)
}

// spreadMail is a user's old message (demoted by the next pass) and new
// one (stays on fast).
func spreadMail(u spreadUser) (old, young string) {
	dir := "mail/" + u.hash + "/" + u.name
	return dir + "/cur/1700000000.M1P1.h:2,S", dir + "/new/1800000000.M2P2.h"
}

// deliverSpread writes every user's two messages and checks the hashes
// the table assumes.
func deliverSpread(t *testing.T, f *fixture, users []spreadUser) map[string][]byte {
	t.Helper()
	content := map[string][]byte{}
	for i, u := range users {
		if h := strings.TrimSpace(runOK(t, f, "hash", u.name)); h != u.hash {
			t.Fatalf("tierfs hash %s = %q, want %q: fix the table", u.name, h, u.hash)
		}
		old, young := spreadMail(u)
		content[old], content[young] = mvContent(old, 5000+i*1000), mvContent(young, 300+i)
		mvWrite(t, f, old, content[old], 40*24*time.Hour)
		mvWrite(t, f, young, content[young], 0)
	}
	return content
}

// TestBucketsRebalance demotes the mail of users in different buckets
// over three NFS exports, each to its bucket's member, then adds a
// fourth export: tierfs check names the new member of the buckets that
// change hands, the next pass moves exactly those, and every message
// keeps its content and inode number, also across a remount.
func TestBucketsRebalance(t *testing.T) {
	f := spreadFixture(t, "tmpfs", 3)
	content := deliverSpread(t, f, spreadUsers)
	if r := mvMigrate(t, f); r.Files != int64(len(spreadUsers)) || r.Failed != 0 {
		t.Fatalf("first pass: %+v, want the %d old messages demoted", r, len(spreadUsers))
	}
	inos := map[string]uint64{}
	for _, u := range spreadUsers {
		old, young := spreadMail(u)
		f.requireOnTier(t, old, u.of3)
		f.requireOnTier(t, young, "fast")
		if out := runOK(t, f, "where", f.path(old)); !strings.Contains(out, u.of3) {
			t.Errorf("tierfs where %s: %q, want %s", old, out, u.of3)
		}
		inos[old], inos[young] = mvIno(t, f, old), mvIno(t, f, young)
	}
	mvCheckFiles(t, f, content, inos)

	f.unmount(t)
	spreadConfigure(t, f, 4)
	out, _ := mvCheck(t, f, "--config", f.cfgPath)
	for _, u := range spreadUsers {
		old, _ := spreadMail(u)
		line := fmt.Sprintf("misplaced: %s on %s, rule[2] (\"mail/{hash}/{user}/**\") places it on fast, or on %s (bucket %s of [nfs1, nfs2, nfs3, nfs4]) once it ages",
			old, u.of3, u.of4, u.hash)
		if got := strings.Contains(out, line); got != (u.of3 != u.of4) {
			t.Errorf("tierfs check reports %s misplaced: %v, want %v\n%s", old, got, u.of3 != u.of4, out)
		}
	}

	f.mount(t)
	mvCheckFiles(t, f, content, inos) // still on the old member, readable
	moving := 0
	for _, u := range spreadUsers {
		if u.of3 != u.of4 {
			moving++
		}
	}
	if r := mvMigrate(t, f); r.Files != int64(moving) || r.Failed != 0 || len(r.Skipped) != 0 {
		t.Fatalf("pass after adding nfs4: %+v, want the %d messages of the buckets that changed hands moved", r, moving)
	}
	for _, u := range spreadUsers {
		old, young := spreadMail(u)
		f.requireOnTier(t, old, u.of4)
		f.requireOnTier(t, young, "fast")
	}
	mvCheckFiles(t, f, content, inos)
	f.unmount(t)
	f.mount(t)
	mvCheckFiles(t, f, content, inos)
	if r := mvMigrate(t, f); r.Files != 0 || r.Failed != 0 {
		t.Errorf("a pass after the rebalance moved %d files: %+v", r.Files, r)
	}
	f.unmount(t)
	if out, bad := mvCheck(t, f, "--config", f.cfgPath); bad {
		t.Errorf("tierfs check after the rebalance:\n%s", out)
	}
}

// TestBucketsRebalanceCrash kills the daemon at every step of the move
// protocol while a rebalance moves a message to a new export: after a
// remount the message reads back with its inode number from exactly one
// export, and the next pass finishes on the new member.
func TestBucketsRebalanceCrash(t *testing.T) {
	users := []spreadUser{spreadUsers[0], spreadUsers[5]} // stays on nfs1; nfs3 → nfs4
	for _, point := range []string{"move-before-copy", "move-after-copy", "move-after-rename", "move-after-switch", "move-after-unlink"} {
		t.Run(point, func(t *testing.T) {
			f := spreadFixture(t, "", 3)
			content := deliverSpread(t, f, users)
			mvMigrate(t, f)
			inos := map[string]uint64{}
			for rel := range content {
				inos[rel] = mvIno(t, f, rel)
			}
			f.unmount(t)
			spreadConfigure(t, f, 4)
			f.mount(t)
			mvCrashMigrate(t, f, point)
			f.mount(t)
			mvCheckFiles(t, f, content, inos)
			if r := mvMigrate(t, f); r.Failed != 0 || len(r.Skipped) != 0 {
				t.Errorf("pass after the crash: %+v", r)
			}
			for _, u := range users {
				old, _ := spreadMail(u)
				f.requireOnTier(t, old, u.of4)
			}
			mvCheckFiles(t, f, content, inos)
			if left := append(mvOwnEntries(f, ".tierfs-moving"), mvOwnEntries(f, ".tierfs-recovered")...); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestBucketsOutage takes one of three exports away (its directory
// replaced by an empty one, as an unmounted NFS export): the users of its
// buckets get EIO, while the users of the other buckets read, list and
// receive mail as before, new users included, with nothing asked of the
// missing export.
func TestBucketsOutage(t *testing.T) {
	f := spreadFixture(t, "", 3)
	users := []spreadUser{spreadUsers[0], spreadUsers[2], spreadUsers[4]} // nfs1, nfs2, nfs3
	content := deliverSpread(t, f, users)
	if r := mvMigrate(t, f); r.Files != int64(len(users)) {
		t.Fatalf("pass: %+v", r)
	}
	// A fresh mount knows no user directory yet: every answer below
	// comes from the tiers.
	f.unmount(t)
	f.mount(t)

	dir := f.tiers["nfs2"]
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir); os.Rename(dir+".away", dir) })
	waitLog(t, f, `msg="tier is down; operations that need it fail with EIO" tier=nfs2`)

	down := users[1]
	old, _ := spreadMail(down)
	if _, err := os.ReadFile(f.path(old)); !errors.Is(err, syscall.EIO) {
		t.Errorf("read %s (bucket %s, on the down export): %v, want EIO", old, down.hash, err)
	}
	if _, err := os.ReadDir(f.path(filepath.Dir(old))); !errors.Is(err, syscall.EIO) {
		t.Errorf("list %s: %v, want EIO", filepath.Dir(old), err)
	}
	for _, u := range []spreadUser{users[0], users[2]} {
		spreadUsable(t, f, u, content)
	}
	// A new user in a bucket of nfs1 gets a mail directory and mail.
	spreadUsable(t, f, spreadUser{"user11", "46", "nfs1", ""}, nil)
	// The mover still demotes the mail of the other exports' buckets.
	late := "mail/" + users[2].hash + "/" + users[2].name + "/cur/1700000001.M3P3.h:2,S"
	mvWrite(t, f, late, mvContent(late, 4000), 40*24*time.Hour)
	out, _ := mvMigrateErr(f) // fails: nfs2 is not scanned
	if !strings.Contains(string(out), `"files": 1,`) || !strings.Contains(string(out), "tier nfs2 is down; not scanned") {
		t.Errorf("pass while nfs2 is down: want %s demoted and nfs2 reported down:\n%s", late, out)
	}
	f.requireOnTier(t, late, users[2].of3)
	mvMustBytes(t, f, late, mvContent(late, 4000))
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d entries written beneath the down export's place", len(ents))
	}
}

// spreadUsable checks that user u's mail reads, lists and takes a new
// delivery (tmp/, then renamed into new/), and that a missing name is
// ENOENT, not EIO.
func spreadUsable(t *testing.T, f *fixture, u spreadUser, content map[string][]byte) {
	t.Helper()
	old, young := spreadMail(u)
	for _, rel := range []string{old, young} {
		if want, ok := content[rel]; ok {
			if got, err := os.ReadFile(f.path(rel)); err != nil || string(got) != string(want) {
				t.Errorf("read %s (bucket %s, on %s): %d bytes, %v", rel, u.hash, u.of3, len(got), err)
			}
		}
	}
	base := "mail/" + u.hash + "/" + u.name
	for _, d := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(f.path(base+"/"+d), 0o700); err != nil {
			t.Errorf("mkdir %s/%s: %v", base, d, err)
		}
	}
	tmp, msg := base+"/tmp/1900000000.M9P9.h", base+"/new/1900000000.M9P9.h"
	if err := os.WriteFile(f.path(tmp), []byte("new mail for "+u.name), 0o600); err != nil {
		t.Errorf("deliver to %s: %v", u.name, err)
	} else if err := os.Rename(f.path(tmp), f.path(msg)); err != nil {
		t.Errorf("deliver to %s: rename into new/: %v", u.name, err)
	}
	for d, want := range map[string][]string{"cur": {filepath.Base(old)}, "new": {filepath.Base(msg)}} {
		if content == nil && d == "cur" {
			want = nil
		}
		if content != nil && d == "new" {
			want = []string{filepath.Base(young), filepath.Base(msg)}
		}
		names := readdirNames(t, f.path(base+"/"+d))
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("list %s/%s: %v, want %v", base, d, names, want)
		}
	}
	if _, err := os.Stat(f.path(base + "/cur/nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat a missing name of %s: %v, want ENOENT", u.name, err)
	}
}
