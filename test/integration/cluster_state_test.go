package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clusterPause is how long host b holds its move at the pause point
// while host a crashes and remounts beside it; the test waits it out.
const clusterPause = 12 * time.Second

// clusterHost makes host's fixture of a two-host cluster: its own tmpfs
// tier "tmp" and the shared persistent tiers "fast" and "slow" (plain
// directories of shared), with rules (TOML) placed before a catch-all
// rule on fast. It runs tierfs init (the first host marks the shared
// tiers, the next one verifies the markers) but does not mount.
func clusterHost(t *testing.T, host string, shared map[string]string, rules string) *fixture {
	t.Helper()
	cfg := fsConfig{Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"},
		{Name: "fast", Kind: "local", Path: shared["fast"]}, {Name: "slow", Kind: "local", Path: shared["slow"]}}}
	f := prepareFixture(t, &cfg)
	text := strings.ReplaceAll(cfg.toml(), "kind = \"local\"\n", "kind = \"local\"\nshared = true\n")
	text += rules + "\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[mover]\ninterval = \"0s\"\n\n[cluster]\nhost = " + fmt.Sprintf("%q", host) + "\nhost_timeout = \"3s\"\n"
	f.writeConfig(t, text)
	if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir); err != nil {
		t.Fatalf("tierfs init as host %s: %v\n%s\nconfig:\n%s", host, err, out, text)
	}
	return f
}

// sharedTiers makes the directories of the shared tiers.
func sharedTiers(t *testing.T) map[string]string {
	t.Helper()
	base := t.TempDir()
	dirs := map[string]string{"fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

// demoteRule demotes user's mail from fast to slow after 30 days, and
// other users' only after ten years: so a host's mover moves only its
// own user's files, and leaves another user's on slow (demoted) alone.
func demoteRule(user string) string {
	rule := "[[rule]]\nmatch = %q\ntier = \"fast\"\ndemote_after = %q\ndemote_to = \"slow\"\n\n"
	return fmt.Sprintf(rule, "mail/*/"+user+"/**", "30d") + fmt.Sprintf(rule, "mail/**", "3650d")
}

// Two hosts' daemons serve the same shared tiers. Host b is in the
// middle of a move (its temporary copy waits in its directory of copies
// in progress on slow) and holds a file whose name a rename replaced (a
// kept link on fast). Host a is SIGKILLed at a step of its own move and
// remounted: its recovery clears its own temporary and finishes its own
// move, and leaves b's temporary and kept link alone, so that b's move
// then completes and b's open file still reads. Each host also keeps
// its own members file, and a plain check run on a names b's state as
// b's. On a daemon that keeps its state under names shared by every
// host, a's recovery removes b's temporary and b's move fails.
//
// Each step takes clusterPause; by default a crashes after its copy
// (the step that leaves a temporary of its own), and
// TIERFS_CLUSTER_CRASHPOINTS=all runs every step of the move.
func TestClusterRecovery(t *testing.T) {
	steps := []struct {
		point string
		tmp   bool // a's crash leaves a temporary of its own
	}{
		{"move-before-copy", false},
		{"move-after-copy", true},
		{"move-after-rename", false},
		{"move-after-switch", false},
		{"move-after-unlink", false},
	}
	for _, st := range steps {
		if os.Getenv("TIERFS_CLUSTER_CRASHPOINTS") != "all" && st.point != "move-after-copy" {
			continue
		}
		// Short names: the control socket's path holds the test's.
		name := strings.ReplaceAll(strings.TrimPrefix(st.point, "move-"), "-", "_")
		t.Run(name, func(t *testing.T) { clusterRecovery(t, st.point, st.tmp) })
	}
}

// clusterRecovery is TestClusterRecovery with host
// a killed at crash point point; tmp says the crash leaves a's
// temporary.
func clusterRecovery(t *testing.T, point string, tmp bool) {
	shared := sharedTiers(t)
	// The hosts' rules never move the same files: alice's mail is a's to
	// demote, bob's b's (the leases will keep hosts apart later).
	a := clusterHost(t, "a", shared, demoteRule("alice"))
	b := clusterHost(t, "b", shared, demoteRule("bob"))
	a.mount(t)
	b.mount(t, fmt.Sprintf("TIERFS_PAUSEPOINT=move-after-copy:%s", clusterPause))

	const aliceDir, bobDir = "mail/f5/alice", "mail/3c/bob"
	content, inos := map[string][]byte{}, map[string]uint64{}
	for i, rel := range []string{aliceDir + "/cur/1.M1.h:2,S", aliceDir + "/cur/2.M2.h:2,S"} {
		content[rel] = mvContent(rel, 5000+i*70000)
		mvWrite(t, a, rel, content[rel], 40*24*time.Hour)
		inos[rel] = mvIno(t, a, rel)
	}
	bobMail := bobDir + "/new/1.M3.h"
	content[bobMail] = mvContent(bobMail, 90000)
	mvWrite(t, b, bobMail, content[bobMail], 40*24*time.Hour)
	bobIno := mvIno(t, b, bobMail)
	kept, keptBody := keepReplacedOn(t, b, bobDir+"/dovecot.index")

	bDone := make(chan mvResult, 1)
	go func() {
		out, err := mvMigrateErr(b)
		bDone <- mvResult{out, err}
	}()
	waitLog(t, b, `msg="pause point reached"`)
	pausedAt := time.Now()
	// Host a has made no temporary yet: what there is is b's.
	bTemps := stateEntries(t, shared["slow"], ".tierfs-moving")
	bKept := stateEntries(t, shared["fast"], ".tierfs-replaced")
	if len(bTemps) != 1 || len(bKept) != 1 {
		t.Fatalf("premise: host b's temporaries %v and kept links %v, want one each", bTemps, bKept)
	}

	mvCrashMigrate(t, a, point)
	if aTemps := newEntries(t, shared["slow"], ".tierfs-moving", bTemps); (len(aTemps) == 1) != tmp {
		t.Fatalf("premise: host a's temporaries after its crash at %s: %v", point, aTemps)
	}
	a.mount(t)
	if time.Since(pausedAt) > clusterPause-time.Second {
		t.Fatalf("premise: host b left its pause point before host a had remounted (%v; a slow machine?)", time.Since(pausedAt))
	}
	if left := newEntries(t, shared["slow"], ".tierfs-moving", bTemps); len(left) != 0 {
		t.Errorf("host a's temporaries after its remount: %v", left)
	}
	for e := range bTemps {
		if !fileExists(e) {
			t.Errorf("host a's remount removed host b's temporary %s", e)
		}
	}
	for e := range bKept {
		if !fileExists(e) {
			t.Errorf("host a's remount removed host b's kept link %s", e)
		}
	}
	checkOtherHostState(t, a)

	if r := mvMigrate(t, a); r.Failed != 0 {
		t.Errorf("host a's pass after its remount: %+v", r)
	}
	for rel := range content {
		if strings.HasPrefix(rel, aliceDir) {
			a.requireOnTier(t, rel, "slow")
			checkHostFile(t, a, rel, content[rel], inos[rel])
		}
	}

	res := <-bDone
	var rb mvReport
	if res.err != nil || json.Unmarshal(res.out, &rb) != nil || rb.Failed != 0 || rb.Files != 1 {
		t.Errorf("host b's pass across host a's crash and remount: %+v, err %v\n%s", rb, res.err, res.out)
	}
	b.requireOnTier(t, bobMail, "slow")
	checkHostFile(t, b, bobMail, content[bobMail], bobIno)
	if got := readFrom(t, kept); got != keptBody {
		t.Errorf("host b's open file whose name was replaced reads %q, want %q", got, keptBody)
	}
	kept.Close()
	checkMembersPerHost(t, shared)
}

type mvResult struct {
	out []byte
	err error
}

// keepReplacedOn opens a new file at rel through f and then replaces
// its name by a rename, so that f keeps a link to the open file (a
// kept link). It returns the open file and what it holds.
func keepReplacedOn(t *testing.T, f *fixture, rel string) (*os.File, string) {
	t.Helper()
	f.writeFile(t, rel, "old index")
	old, err := os.Open(f.path(rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	f.writeFile(t, rel+".new", "new index")
	if err := os.Rename(f.path(rel+".new"), f.path(rel)); err != nil {
		t.Fatalf("rename over %s: %v", rel, err)
	}
	return old, "old index"
}

// readFrom reads f from its start.
func readFrom(t *testing.T, f *os.File) string {
	t.Helper()
	b := make([]byte, 64)
	n, err := f.ReadAt(b, 0)
	if n == 0 && err != nil {
		t.Errorf("read %s: %v", f.Name(), err)
	}
	return string(b[:n])
}

// checkHostFile checks rel's content and inode number through f.
func checkHostFile(t *testing.T, f *fixture, rel string, want []byte, ino uint64) {
	t.Helper()
	got, err := os.ReadFile(f.path(rel))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes, err %v; want %d bytes as written", rel, len(got), err, len(want))
	}
	if got := mvIno(t, f, rel); got != ino {
		t.Errorf("%s: st_ino %d, want %d", rel, got, ino)
	}
}

// stateEntries lists the entries of every host's directory of state
// dir (".tierfs-moving", ".tierfs-moving.a", ...) at tier root root,
// without assuming how the hosts' names are told apart.
func stateEntries(t *testing.T, root, dir string) map[string]bool {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(root, dir+"*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			out[filepath.Join(d, e.Name())] = true
		}
	}
	return out
}

// newEntries is what stateEntries lists beyond old.
func newEntries(t *testing.T, root, dir string, old map[string]bool) []string {
	t.Helper()
	var out []string
	for e := range stateEntries(t, root, dir) {
		if !old[e] {
			out = append(out, e)
		}
	}
	return out
}

// waitLog waits until f's daemon logged want.
func waitLog(t *testing.T, f *fixture, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(f.d.log(), want) {
		if time.Now().After(deadline) || f.d.exited() {
			t.Fatalf("the daemon did not log %s\n%s", want, f.d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOtherHostState runs a plain tierfs check as host a while host b
// has a move in flight: it reports b's temporary as b's and fails.
func checkOtherHostState(t *testing.T, a *fixture) {
	t.Helper()
	out, err := a.run("check", "--config", a.cfgPath, "--state-dir", a.stateDir)
	if err == nil || !strings.Contains(out, "slow:.tierfs-moving.b/") || !strings.Contains(out, "of host b") {
		t.Errorf("check as host a with host b's move in flight = %v, want b's temporary reported as b's:\n%s", err, out)
	}
}

// checkMembersPerHost checks that each host wrote its own members file
// and rebalance record on each shared tier and no host the unsuffixed
// ones.
func checkMembersPerHost(t *testing.T, shared map[string]string) {
	t.Helper()
	for _, root := range shared {
		for _, host := range []string{"a", "b"} {
			b, err := os.ReadFile(filepath.Join(root, ".tierfs-members."+host))
			if err != nil || !strings.Contains(string(b), `"slow"`) || !strings.Contains(string(b), `"fast"`) {
				t.Errorf("%s: host %s's members file: %v\n%s", root, host, err, b)
			}
		}
		if fileExists(filepath.Join(root, ".tierfs-members")) {
			t.Errorf("%s: an unsuffixed members file was written on a shared tier", root)
		}
		for _, host := range []string{"a", "b"} {
			if !fileExists(filepath.Join(root, ".tierfs-rebalance."+host)) {
				t.Errorf("%s: host %s wrote no rebalance record of its own", root, host)
			}
		}
		if fileExists(filepath.Join(root, ".tierfs-rebalance")) {
			t.Errorf("%s: an unsuffixed rebalance record was written on a shared tier", root)
		}
	}
}
