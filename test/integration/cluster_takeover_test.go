package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Host a is SIGKILLed in the middle of a multi-tier change of alice's
// files; host b, taking alice over once a's heartbeat is stale, must
// finish a's change before it serves her. These tests kill a in a
// directory rename across tiers and in the mover's move, and b at the
// steps of its takeover. TIERFS_CLUSTER_CRASHPOINTS=all runs every step.

const aliceHome = "mail/ab/alice"

// takeoverOpts: the mover runs on demand only.
var takeoverOpts = clusterOpts{extra: "[mover]\ninterval = \"0s\"\n"}

// waitDied waits until f's daemon killed itself at its crash point
// and detaches its dead mount.
func waitDied(t *testing.T, f *fixture, point string) {
	t.Helper()
	if !f.d.wait(mountWait) {
		t.Fatalf("the daemon did not die at %s\n%s", point, f.d.log())
	}
	f.d = nil
	if out, err := exec.Command("umount", "-l", f.mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the dead mount: %v %s", err, out)
	}
}

// listServed lists rel through f, waiting while f answers EIO (the
// user's lease is another host's until that host's heartbeat is stale).
func listServed(t *testing.T, f *fixture, rel string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ents, err := os.ReadDir(f.path(rel))
		if err == nil {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			return names
		}
		if !errors.Is(err, syscall.EIO) || time.Now().After(deadline) {
			t.Fatalf("list %s: %v\n%s", rel, err, f.d.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// journalOf lists the intents in host's journal on the shared tiers.
func journalOf(f *fixture, host string) []string {
	ents, _ := os.ReadDir(f.tierPath("fast", ".tierfs-journal."+host))
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	return out
}

// requireNames fails unless listing rel through f gives exactly want.
func requireNames(t *testing.T, f *fixture, rel string, want ...string) {
	t.Helper()
	got := listServed(t, f, rel)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s lists %v, want %v", rel, got, want)
	}
}

// waitCheck runs a plain check on f until its output contains want.
func waitCheck(t *testing.T, f *fixture, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := f.run("check", "--config", f.cfgPath, "--state-dir", f.stateDir)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("check never said %q:\n%s", want, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// takeoverPoints are the steps of b's takeover at which
// TestClusterTakeoverRenameDir kills b too ("" none).
func takeoverPoints() []string {
	if os.Getenv("TIERFS_CLUSTER_CRASHPOINTS") == "all" {
		return []string{"", "takeover-locked", "dir-rename-between-tiers", "takeover-before-end"}
	}
	return []string{""}
}

// Host a renames alice's mailbox .Box, which has copies on fast and slow,
// and is killed between the two tiers' renames; before that it replaced
// the name of an open, hard-linked file (a kept link of a's). Once a's
// heartbeat is stale, a plain check on b names a's intent and kept link
// as a dead host's; b's first request for alice finishes the rename
// (one mailbox, every message with its content and inode number, a's
// intent gone); b's mover removes a's kept link, so the linked file
// moves. When a remounts while b holds alice, a leaves her alone; once
// b lets go, a sees what b saw. On the old code b serves two partial
// mailboxes and keeps a's intent, and the linked file never moves.
// With b killed at a step of its takeover too, b's next mount's first
// request finishes it.
func TestClusterTakeoverRenameDir(t *testing.T) {
	for _, bPoint := range takeoverPoints() {
		name := "b_ok"
		if bPoint != "" {
			name = "b_" + strings.ReplaceAll(bPoint, "-", "_")
		}
		t.Run(name, func(t *testing.T) { takeoverRenameDir(t, bPoint) })
	}
}

func takeoverRenameDir(t *testing.T, bPoint string) {
	a, b := twoHosts(t, takeoverOpts)
	old := 72 * time.Hour
	box, renamed := aliceHome+"/.Box", aliceHome+"/.Renamed"
	content, inos := map[string][]byte{}, map[string]uint64{}
	for i, m := range []string{"cur/1", "cur/2", "cur/3"} {
		age := time.Duration(0)
		if i == 2 {
			age = old // demoted: .Box gets a copy on slow
		}
		content[m] = mvContent(m, 3000+i*5000)
		mvWrite(t, a, box+"/"+m, content[m], age)
	}
	if r := mvMigrate(t, a); r.Files != 1 || r.Failed != 0 {
		t.Fatalf("premise: demoting one message of .Box: %+v", r)
	}
	for m := range content {
		inos[m] = mvIno(t, a, box+"/"+m)
	}
	a.requireOnTier(t, box+"/cur/3", "slow")

	a.unmount(t)
	a.mount(t, crashPointEnv+"=dir-rename-between-tiers")
	linked := aliceHome + "/cur/L2"
	content["L"] = []byte("linked mail, replaced while open")
	mvWrite(t, a, aliceHome+"/cur/L", content["L"], old)
	if err := os.Link(a.path(aliceHome+"/cur/L"), a.path(linked)); err != nil {
		t.Fatal(err)
	}
	linkedIno := mvIno(t, a, linked)
	held, err := os.Open(a.path(aliceHome + "/cur/L"))
	if err != nil {
		t.Fatal(err)
	}
	a.writeFile(t, aliceHome+"/cur/L.new", "new L")
	if err := os.Rename(a.path(aliceHome+"/cur/L.new"), a.path(aliceHome+"/cur/L")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a.path(box), a.path(renamed)); err == nil {
		t.Fatal("the rename on a succeeded although a was to crash in it")
	}
	held.Close()
	waitDied(t, a, "dir-rename-between-tiers")
	if n := len(journalOf(a, "a")); n != 1 {
		t.Fatalf("premise: a's journal holds %d intents after its crash, want 1", n)
	}
	if len(a.tiersHolding(renamed)) != 1 || len(a.tiersHolding(box)) != 1 {
		t.Fatalf("premise: the rename is not half done: fast %v, slow %v", a.tiersHolding(renamed), a.tiersHolding(box))
	}

	out := waitCheck(t, b, "of host a (dead)")
	for _, want := range []string{"kept: fast:.tierfs-replaced.a, 1 links kept for files replaced while open, of host a (dead)",
		"journal: fast:.tierfs-journal.a/", "host a is dead: a live host finishes it (the next to take the lease"} {
		if !strings.Contains(out, want) {
			t.Errorf("check on b with a dead lacks %q:\n%s", want, out)
		}
	}

	if bPoint != "" {
		b.unmount(t)
		b.mount(t, crashPointEnv+"="+bPoint)
		os.ReadDir(b.path(aliceHome))
		waitDied(t, b, bPoint)
		b.mount(t)
	}
	requireNames(t, b, aliceHome, ".Renamed", "cur")
	requireNames(t, b, renamed+"/cur", "1", "2", "3")
	for m, want := range content {
		if m != "L" {
			checkHostFile(t, b, renamed+"/"+m, want, inos[m])
		}
	}
	if j := journalOf(b, "a"); len(j) != 0 {
		t.Errorf("a's journal after b took alice over: %v", j)
	}
	if !strings.Contains(b.d.log(), "finishing dead host a's unfinished change") {
		t.Errorf("b did not log finishing a's change:\n%s", b.d.log())
	}

	if r := mvMigrate(t, b); r.Files != 1 || r.Failed != 0 {
		t.Errorf("b's pass with a's kept link: %+v, want the linked file moved", r)
	}
	b.requireOnTier(t, linked, "slow")
	checkHostFile(t, b, linked, content["L"], linkedIno)
	if ents := stateEntries(t, b.tiers["fast"], ".tierfs-replaced.a"); len(ents) != 0 {
		t.Errorf("a's kept links after b's pass: %v", ents)
	}
	if out, _ := b.run("check", "--config", b.cfgPath, "--state-dir", b.stateDir); strings.Contains(out, "host a") {
		t.Errorf("check on b still reports a's state:\n%s", out)
	}

	// a remounts while b holds alice: a's mount leaves her alone.
	keep, err := os.Open(b.path(renamed + "/cur/1"))
	if err != nil {
		t.Fatal(err)
	}
	waitLease(t, b, "ab/alice", "b", "held")
	a.mount(t)
	_, err = os.Stat(a.path(renamed + "/cur/1"))
	requireErrno(t, "stat on a while b holds alice", err, syscall.EIO)
	waitLease(t, b, "ab/alice", "b", "held")
	if strings.Contains(a.d.log(), "finishing") {
		t.Errorf("a's remount replayed something of alice's:\n%s", a.d.log())
	}
	keep.Close()
	waitLease(t, b, "ab/alice", "b", "free")
	requireNames(t, a, aliceHome, ".Renamed", "cur")
	requireNames(t, a, renamed+"/cur", "1", "2", "3")
	requireNames(t, a, aliceHome+"/cur", "L", "L2")
	for m, want := range content {
		if m != "L" {
			checkHostFile(t, a, renamed+"/"+m, want, inos[m])
		}
	}
	checkHostFile(t, a, linked, content["L"], linkedIno)
}

// movePoints are the steps of the mover's move at which
// TestClusterTakeoverMove kills host a.
func movePoints() []string {
	if os.Getenv("TIERFS_CLUSTER_CRASHPOINTS") == "all" {
		return []string{"move-after-rename", "move-after-unlink", "move-after-switch"}
	}
	return []string{"move-after-rename"}
}

// Host a is killed in the middle of a move of alice's mail (its intent
// written, the copy renamed into place): b's first request for alice
// settles it, so the message is on one tier with its content and inode
// number and a's intent is gone, and a's remount while b holds alice
// leaves her alone and changes nothing. On the old code b serves the file from two tiers and a's
// intent stays until a mounts.
func TestClusterTakeoverMove(t *testing.T) {
	for _, point := range movePoints() {
		t.Run(strings.ReplaceAll(point, "-", "_"), func(t *testing.T) {
			a, b := twoHosts(t, takeoverOpts)
			rel := aliceHome + "/cur/1.M1.h:2,S"
			want := mvContent(rel, 20000)
			mvWrite(t, a, rel, want, 72*time.Hour)
			ino := mvIno(t, a, rel)
			mvCrashMigrate(t, a, point)
			if point == "move-after-rename" && len(a.tiersHolding(rel)) != 2 {
				t.Fatalf("premise: after a's crash %s is on %v, want both tiers", rel, a.tiersHolding(rel))
			}
			if n := len(journalOf(a, "a")); n != 1 {
				t.Fatalf("premise: a's journal holds %d intents after its crash, want 1", n)
			}
			requireNames(t, b, aliceHome+"/cur", filepath.Base(rel))
			if j := journalOf(b, "a"); len(j) != 0 {
				t.Errorf("a's journal after b took alice over: %v", j)
			}
			if got := b.tiersHolding(rel); !slices.Equal(got, []string{"slow"}) {
				t.Errorf("%s after b took alice over is on %v, want slow only", rel, got)
			}
			checkHostFile(t, b, rel, want, ino)
			keep, err := os.Open(b.path(rel)) // b holds alice while a remounts
			if err != nil {
				t.Fatal(err)
			}
			a.mount(t)
			_, err = os.Stat(a.path(rel))
			requireErrno(t, "stat on a while b holds alice", err, syscall.EIO)
			waitLease(t, b, "ab/alice", "b", "held")
			keep.Close()
			waitLease(t, b, "ab/alice", "b", "free")
			requireNames(t, a, aliceHome+"/cur", filepath.Base(rel))
			checkHostFile(t, a, rel, want, ino)
			if got := a.tiersHolding(rel); !slices.Equal(got, []string{"slow"}) {
				t.Errorf("%s after a's remount is on %v, want slow only", rel, got)
			}
		})
	}
}

// Host a is killed between the two tiers' renames of a directory
// outside every per-user directory (a shared folder), whose copies are
// on fast and slow. No lease covers it, so no request of b's settles
// it: b's mount does by itself within seconds of a's death (as b's
// mover pass would), under a's lock, and makes b's kernel forget the
// old name it had listed. On the old code the intent stays until a
// mounts again and b lists both halves meanwhile.
func TestClusterTakeoverOutsideUsers(t *testing.T) {
	a := newClusterHost(t, "a", nil, takeoverOpts)
	b := newClusterHost(t, "b", a, takeoverOpts)
	box, renamed := "public/.Box", "public/.Renamed"
	content := map[string][]byte{"cur/1": []byte("on fast"), "cur/2": []byte("on slow")}
	for m, tier := range map[string]string{"cur/1": "fast", "cur/2": "slow"} {
		if err := os.MkdirAll(a.tierPath(tier, box+"/cur"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(a.tierPath(tier, box+"/"+m), content[m], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a.mount(t)
	b.mount(t)
	inos := map[string]uint64{}
	for m := range content {
		inos[m] = mvIno(t, a, box+"/"+m)
	}
	requireNames(t, b, box+"/cur", "1", "2") // b's kernel now holds .Box

	a.unmount(t)
	a.mount(t, crashPointEnv+"=dir-rename-between-tiers")
	if err := os.Rename(a.path(box), a.path(renamed)); err == nil {
		t.Fatal("the rename on a succeeded although a was to crash in it")
	}
	waitDied(t, a, "dir-rename-between-tiers")
	if n := len(journalOf(a, "a")); n != 1 {
		t.Fatalf("premise: a's journal holds %d intents after its crash, want 1", n)
	}
	if len(a.tiersHolding(renamed)) != 1 || len(a.tiersHolding(box)) != 1 {
		t.Fatalf("premise: the rename is not half done: %v, %v", a.tiersHolding(renamed), a.tiersHolding(box))
	}
	out := waitCheck(t, b, "host a is dead")
	if !strings.Contains(out, "outside the users' directories, any mount within seconds") {
		t.Errorf("check on b does not say who finishes a's change:\n%s", out)
	}

	deadline := time.Now().Add(30 * time.Second) // host_timeout, then outsideEvery
	for len(journalOf(b, "a")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a's journal still holds %v; b never finished it\n%s", journalOf(b, "a"), b.d.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(b.d.log(), "finishing dead host a's unfinished change") {
		t.Errorf("b did not log finishing a's change:\n%s", b.d.log())
	}
	_, err := os.Stat(b.path(box))
	requireErrno(t, "stat on b of the old name it had listed", err, syscall.ENOENT)
	requireNames(t, b, "public", ".Renamed")
	requireNames(t, b, renamed+"/cur", "1", "2")
	for m, want := range content {
		checkHostFile(t, b, renamed+"/"+m, want, inos[m])
	}

	a.mount(t)
	requireNames(t, a, "public", ".Renamed")
	for m, want := range content {
		checkHostFile(t, a, renamed+"/"+m, want, inos[m])
	}
	if strings.Contains(a.d.log(), "finishing") {
		t.Errorf("a's remount replayed something:\n%s", a.d.log())
	}
}
