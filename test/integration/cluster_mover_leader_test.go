package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/mover"
)

// In a cluster only the mover leader (the live host with the smallest
// name, here a) walks the whole shared tree in its scheduled passes;
// another host's scheduled passes scan the users it holds. The tests
// drive those passes with tierfs migrate --scheduled, which scopes a
// pass as the daemon's schedule does, and read the scope in the report.

// leaderHost prepares host name as newClusterHost does, with slow2 as a
// fourth (shared) tier when spread is set: the mail rule then has a
// {hash} capture and demote_to is demoteTo.
func leaderHost(t *testing.T, name string, shared *fixture, o clusterOpts, demoteTo string) *fixture {
	t.Helper()
	cfg := fsConfig{Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "slow", Kind: "local"}, {Name: "slow2", Kind: "local"}}}
	if shared != nil {
		for i, n := range []string{"fast", "slow", "slow2"} {
			cfg.Tiers[i+1].Path = shared.tiers[n]
		}
	}
	f := prepareFixture(t, &cfg)
	leaderConfig(t, f, name, o, demoteTo)
	if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir); err != nil {
		t.Fatalf("tierfs init on %s: %v\n%s", name, err, out)
	}
	return f
}

// leaderConfig writes host's config with the mail rule demoting to
// demoteTo (TOML: "slow" or a list).
func leaderConfig(t *testing.T, f *fixture, host string, o clusterOpts, demoteTo string) {
	t.Helper()
	text := clusterConfig(f, host, o.orDefault())
	text = strings.Replace(text, "match = \"mail/**\"", "match = \"mail/{hash}/{user}/**\"", 1)
	text = strings.Replace(text, "demote_to = \"slow\"", "demote_to = "+demoteTo, 1)
	f.writeConfig(t, text)
}

// leaderMigrate runs tierfs migrate --json with args on f and returns
// its report.
func leaderMigrate(t *testing.T, f *fixture, args ...string) mover.Report {
	t.Helper()
	out, err := mvMigrateErr(f, args...)
	if err != nil {
		t.Fatalf("tierfs migrate %v: %v\n%s", args, err, out)
	}
	var r mover.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("tierfs migrate %v: %v\n%s", args, err, out)
	}
	return r
}

// requireScope fails unless r's scope reads want, and r scanned and
// moved the given numbers of files.
func requireScope(t *testing.T, what string, r mover.Report, want string, scanned, files int64) {
	t.Helper()
	if got := r.Scope.String(); got != want || r.Scanned != scanned || r.Files != files || r.Failed != 0 {
		t.Fatalf("%s: scope %q, scanned %d, moved %d, failed %d (%+v); want %q, %d, %d", what, got, r.Scanned, r.Files, r.Failed, r.Failures, want, scanned, files)
	}
}

// idleMail puts old mail of a user nobody holds straight into tier's
// backing directory, as mail delivered long ago looks to the mover.
func idleMail(t *testing.T, f *fixture, tier, rel string) {
	t.Helper()
	p := f.tierPath(tier, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("content of "+rel), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// heldMail writes mail through f's mount (f then holds the user) and
// makes it old unless young.
func heldMail(t *testing.T, f *fixture, rel string, young bool) {
	t.Helper()
	f.mkdirAll(t, filepath.Dir(rel))
	f.writeFile(t, rel, "content of "+rel)
	if young {
		return
	}
	old := time.Now().Add(-72 * time.Hour)
	if err := os.Chtimes(f.path(rel), old, old); err != nil {
		t.Fatal(err)
	}
}

// requireLeaseHolder fails unless user's lease names holder first
// ("" for no lease at all).
func requireLeaseHolder(t *testing.T, f *fixture, user, holder string) {
	t.Helper()
	data, err := os.ReadFile(leaseFile(f, user))
	if holder == "" && os.IsNotExist(err) {
		return
	}
	if holder == "" || !strings.HasPrefix(string(data), holder+" ") {
		t.Fatalf("lease of %s: %q, %v; want held last by %q", user, data, err, holder)
	}
}

// leaderPair mounts hosts a, the mover leader, and b, which keeps its
// users for an hour (bo, b's options); the mover runs when asked.
func leaderPair(t *testing.T) (a, b *fixture, bo clusterOpts) {
	o := clusterOpts{extra: "[mover]\ninterval = \"0s\"\n"}
	a = leaderHost(t, "a", nil, o, `"slow"`)
	o.releaseAfter = "1h" // b keeps its users
	b = leaderHost(t, "b", a, o, `"slow"`)
	a.mount(t)
	b.mount(t)
	return a, b, o
}

// The leader's scheduled pass walks the whole tree: it moves idle users'
// old mail and skips the users b holds. b's scheduled pass scans only
// those users' directories (its count of files scanned is theirs) and
// moves their old mail, never taking an idle user's lease; a pass asked
// for on b scans the whole tree.
func TestClusterMoverLeaderScope(t *testing.T) {
	a, b, _ := leaderPair(t)
	heldMail(t, b, "mail/ab/alice/cur/1", false)
	heldMail(t, b, "mail/ab/alice/cur/2", true)
	heldMail(t, b, "mail/de/dave/cur/1", false)
	idleMail(t, a, "fast", "mail/cd/bob/cur/1")
	idleMail(t, a, "fast", "mail/ef/carol/cur/1")

	r := leaderMigrate(t, a, "--scheduled")
	requireScope(t, "a's scheduled pass", r, "whole tree (leader)", 5, 2)
	if r.OtherHosts != 2 || r.Skipped[mover.SkipOtherHost] != 2 {
		t.Errorf("a's pass: %d users of other hosts, skipped %v; want b's two users", r.OtherHosts, r.Skipped)
	}
	for rel, tier := range map[string]string{"mail/cd/bob/cur/1": "slow", "mail/ef/carol/cur/1": "slow",
		"mail/ab/alice/cur/1": "fast", "mail/ab/alice/cur/2": "fast", "mail/de/dave/cur/1": "fast"} {
		a.requireOnTier(t, rel, tier)
	}
	waitLease(t, a, "cd/bob", "a", "free")

	idleMail(t, a, "fast", "mail/f0/frank/cur/1") // an idle user b's pass must not touch
	r = leaderMigrate(t, b, "--scheduled")
	requireScope(t, "b's scheduled pass", r, "2 users held here (leader: a)", 3, 2)
	if r.Scope.Users != 2 || r.OtherHosts != 0 {
		t.Errorf("b's pass: scope %+v, %d users of other hosts", r.Scope, r.OtherHosts)
	}
	for rel, tier := range map[string]string{"mail/ab/alice/cur/1": "slow", "mail/ab/alice/cur/2": "fast",
		"mail/de/dave/cur/1": "slow", "mail/f0/frank/cur/1": "fast"} {
		a.requireOnTier(t, rel, tier)
	}
	requireLeaseHolder(t, a, "cd/bob", "a")
	requireLeaseHolder(t, a, "f0/frank", "")
	for _, rel := range []string{"mail/ab/alice/cur/1", "mail/de/dave/cur/1"} {
		if got, err := os.ReadFile(b.path(rel)); err != nil || string(got) != "content of "+rel {
			t.Errorf("%s on b after its move: %q, %v", rel, got, err)
		}
	}
	requireStatus(t, b, "scope: 2 users held here (leader: a)")

	if out := runOK(t, b, "migrate", "--scheduled", "--dry-run", b.mnt); !strings.Contains(out, "scope: 2 users held here (leader: a)\n") {
		t.Errorf("tierfs migrate does not show the scope:\n%s", out)
	}
	r = leaderMigrate(t, b, "--dry-run")
	requireScope(t, "b's pass asked for", r, "whole tree (asked for; leader: a)", 6, 1)
	if !strings.Contains(a.d.log(), "this host is the mover leader now") {
		t.Errorf("a did not log that it leads:\n%s", a.d.log())
	}
	if !strings.Contains(b.d.log(), "another host is the mover leader") {
		t.Errorf("b did not log who leads:\n%s", b.d.log())
	}
}

// b's own periodic passes scan only its users while a leads; once a is
// killed and its heartbeat is stale, b's next pass walks the whole tree
// and moves an idle user's mail, and b logs that it leads; when a is
// back, b stops leading.
func TestClusterMoverLeaderDies(t *testing.T) {
	o := clusterOpts{extra: "[mover]\ninterval = \"0s\"\n"}
	a := leaderHost(t, "a", nil, o, `"slow"`)
	o = clusterOpts{releaseAfter: "1h", extra: "[mover]\ninterval = \"1s\"\n"}
	b := leaderHost(t, "b", a, o, `"slow"`)
	a.mount(t)
	b.mount(t)
	heldMail(t, b, "mail/ab/alice/cur/1", false)
	idleMail(t, a, "fast", "mail/cd/bob/cur/1")
	waitFile(t, a, "mail/ab/alice/cur/1", "slow") // by b's periodic pass
	waitStatus(t, b, "scope: 1 users held here (leader: a)")
	passes := moverRuns(t, b)
	for moverRuns(t, b) < passes+2 {
		time.Sleep(200 * time.Millisecond)
	}
	a.requireOnTier(t, "mail/cd/bob/cur/1", "fast") // two more of b's passes left it: a leads

	a.d.kill()
	a.d = nil
	if out, err := exec.Command("umount", "-l", a.mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the dead mount: %v %s", err, out)
	}
	waitFile(t, a, "mail/cd/bob/cur/1", "slow")
	waitStatus(t, b, "scope: whole tree (leader)")
	if !strings.Contains(b.d.log(), "this host is the mover leader now") {
		t.Errorf("b did not log that it leads:\n%s", b.d.log())
	}
	if got, err := os.ReadFile(b.path("mail/cd/bob/cur/1")); err != nil || string(got) != "content of mail/cd/bob/cur/1" {
		t.Errorf("bob's mail on b: %q, %v", got, err)
	}

	// a's own heartbeat is stale: it mounts and leads again. b read
	// bob's mail: it holds bob too.
	a.mount(t)
	waitStatus(t, b, "scope: 2 users held here (leader: a)")
	if !strings.Contains(b.d.log(), "this host is no longer the mover leader") {
		t.Errorf("b did not log that it stopped leading:\n%s", b.d.log())
	}
}

// A pending rebalance on b (slow2 joined its mail rule's list by a
// reload) makes b's scheduled pass walk the whole tree although a
// leads: the idle user's mail left on the old member moves to its new
// one and the record is cleared, which a pass of b's users alone could
// not prove. While a holds that user, b's whole pass cannot move it and
// the record stays. With nothing pending, b's passes scan its users
// again.
func TestClusterMoverLeaderRebalance(t *testing.T) {
	a, b, o := leaderPair(t)
	heldMail(t, b, "mail/ab/alice/cur/1", true)
	idleMail(t, a, "slow", "mail/ff/frank/cur/1") // bucket ff: slow2's once it joins
	requireScope(t, "b's pass before the reload", leaderMigrate(t, b, "--scheduled"), "1 users held here (leader: a)", 1, 0)

	leaderConfig(t, b, "b", o, `["slow", "slow2"]`)
	runOK(t, b, "reload", b.mnt)
	held, err := os.Open(a.path("mail/ff/frank/cur/1")) // a serves frank
	if err != nil {
		t.Fatal(err)
	}
	r := leaderMigrate(t, b, "--scheduled")
	requireScope(t, "b's pass while a serves frank", r, "whole tree (rebalance pending; leader: a)", 2, 0)
	if r.Rebalance == nil || r.Rebalance.Finished || r.Rebalance.Left != 1 {
		t.Fatalf("b's pass while a serves frank: rebalance %+v, want one name left", r.Rebalance)
	}
	a.requireOnTier(t, "mail/ff/frank/cur/1", "slow")
	held.Close()
	waitLease(t, a, "ff/frank", "a", "free")
	r = leaderMigrate(t, b, "--scheduled")
	requireScope(t, "b's pass", r, "whole tree (rebalance pending; leader: a)", 2, 1)
	if r.Rebalance == nil || !r.Rebalance.Finished {
		t.Fatalf("b's pass: rebalance %+v, want it finished", r.Rebalance)
	}
	a.requireOnTier(t, "mail/ff/frank/cur/1", "slow2")
	waitLease(t, a, "ff/frank", "b", "free") // the pass's own hold, released after it
	requireScope(t, "b's pass after the rebalance", leaderMigrate(t, b, "--scheduled"), "1 users held here (leader: a)", 1, 0)
}

// waitFile waits until rel is on tier alone.
func waitFile(t *testing.T, f *fixture, rel, tier string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for got := f.tiersHolding(rel); len(got) != 1 || got[0] != tier; got = f.tiersHolding(rel) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is on %v, want %s", rel, got, tier)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStatus waits until tierfs status shows want.
func waitStatus(t *testing.T, f *fixture, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := f.run("status", f.mnt)
		if err == nil && strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tierfs status lacks %q: %v\n%s", want, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// moverRuns is the number of passes f's mover finished.
func moverRuns(t *testing.T, f *fixture) uint64 {
	t.Helper()
	var reps []struct {
		Mover mover.Stats `json:"mover"`
	}
	if err := json.Unmarshal([]byte(runOK(t, f, "status", "--json", f.mnt)), &reps); err != nil || len(reps) != 1 {
		t.Fatalf("tierfs status --json: %v (%d reports)", err, len(reps))
	}
	return reps[0].Mover.Runs
}
