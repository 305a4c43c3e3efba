package integration

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tierfs/tierfs/mover"
	"github.com/tierfs/tierfs/policy"
)

// rbUsers: user4 (09) stays on nfs1, user1 (7c) on nfs2; user6 (92)
// moves from nfs2 to nfs3 and user2 (eb) from nfs3 to nfs4 when nfs4
// joins.
var rbUsers = []spreadUser{spreadUsers[0], spreadUsers[2], spreadUsers[3], spreadUsers[5]}

// rbPersistent are the tiers holding a copy of the rebalance record once
// nfs4 joined.
var rbPersistent = []string{"fast", "nfs1", "nfs2", "nfs3", "nfs4"}

// rbReport is the part of `tierfs migrate --json` these tests read.
type rbReport struct {
	Files     int64                  `json:"files"`
	Failed    int64                  `json:"failed"`
	Skipped   map[string]int64       `json:"skipped"`
	Rebalance *mover.RebalanceReport `json:"rebalance"`
}

func rbMigrate(t *testing.T, f *fixture, args ...string) rbReport {
	t.Helper()
	out, err := mvMigrateErr(f, args...)
	if err != nil {
		t.Fatalf("tierfs migrate %v: %v\n%s", args, err, out)
	}
	var r rbReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("tierfs migrate %v: %v\n%s", args, err, out)
	}
	return r
}

// rbPending returns the pending rebalance tierfs status --json reports.
func rbPending(t *testing.T, f *fixture) []policy.PendingRebalance {
	t.Helper()
	var reps []struct {
		Rebalance []policy.PendingRebalance `json:"rebalance"`
	}
	if err := json.Unmarshal([]byte(runOK(t, f, "status", "--json", f.mnt)), &reps); err != nil || len(reps) != 1 {
		t.Fatalf("tierfs status --json: %v (%d reports)", err, len(reps))
	}
	return reps[0].Rebalance
}

// rbRequirePending checks that status reports the three-member list of
// the mail rule as pending, or nothing.
func rbRequirePending(t *testing.T, f *fixture, want bool) {
	t.Helper()
	ps := rbPending(t, f)
	if !want {
		if len(ps) != 0 {
			t.Fatalf("status reports a pending rebalance %+v, want none", ps)
		}
		return
	}
	if len(ps) != 1 || ps[0].Match != "mail/{hash}/{user}/**" || !slices.Equal(ps[0].DemoteTo, []string{"nfs1", "nfs2", "nfs3"}) ||
		!slices.Equal(ps[0].Tier, []string{"fast"}) || ps[0].Since.IsZero() {
		t.Fatalf("status reports pending %+v, want the mail rule's demote_to [nfs1 nfs2 nfs3]", ps)
	}
	if out := runOK(t, f, "status", f.mnt); !strings.Contains(out, `rebalance pending: rule "mail/{hash}/{user}/**" was tier=fast demote_to=[nfs1, nfs2, nfs3] (since `) {
		t.Fatalf("tierfs status does not show the pending rebalance:\n%s", out)
	}
}

// rbRecords reads the rebalance record's copy on each tier that has one.
func rbRecords(t *testing.T, f *fixture) map[string]*policy.RebalanceRecord {
	t.Helper()
	out := map[string]*policy.RebalanceRecord{}
	for _, tier := range rbPersistent {
		b, err := os.ReadFile(f.tierPath(tier, ".tierfs-rebalance"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var r policy.RebalanceRecord
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			t.Fatalf("record on %s: %v\n%s", tier, err, b)
		}
		out[tier] = &r
	}
	return out
}

// rbRecordIs reports whether r records the mail rule over n members with
// the three-member list pending (pending) or nothing pending.
func rbRecordIs(r *policy.RebalanceRecord, n int, pending bool) bool {
	var mail *policy.ListRule
	for i := range r.Lists {
		if r.Lists[i].Match == "mail/{hash}/{user}/**" {
			mail = &r.Lists[i]
		}
	}
	if mail == nil || len(mail.DemoteTo) != n {
		return false
	}
	if !pending {
		return len(r.Pending) == 0
	}
	return len(r.Pending) == 1 && slices.Equal(r.Pending[0].DemoteTo, []string{"nfs1", "nfs2", "nfs3"})
}

// rbTierDown replaces tier's directory by an empty one, as an unmounted
// NFS export, and waits for the n-th outage the daemon logs for it.
func rbTierDown(t *testing.T, f *fixture, tier string, n int) {
	t.Helper()
	dir := f.tiers[tier]
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rbTierBack(f, tier) })
	rbWaitLogCount(t, f, `msg="tier is down; operations that need it fail with EIO" tier=`+tier, n)
}

// rbTierBack puts tier's directory back (a no-op when it is there).
func rbTierBack(f *fixture, tier string) {
	dir := f.tiers[tier]
	if _, err := os.Stat(dir + ".away"); err == nil {
		os.Remove(dir)
		os.Rename(dir+".away", dir)
	}
}

func rbWaitLogCount(t *testing.T, f *fixture, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(f.d.log(), want) < n {
		if time.Now().After(deadline) || f.d.exited() {
			t.Fatalf("the daemon did not log %s %d times\n%s", want, n, f.d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rbRequireEIO checks that reading, stating and listing a user's old
// mail fail with EIO.
func rbRequireEIO(t *testing.T, f *fixture, u spreadUser, why string) {
	t.Helper()
	old, _ := spreadMail(u)
	if _, err := os.ReadFile(f.path(old)); !errors.Is(err, syscall.EIO) {
		t.Errorf("%s: read %s: %v, want EIO", why, old, err)
	}
	if _, err := os.Stat(f.path(old)); !errors.Is(err, syscall.EIO) {
		t.Errorf("%s: stat %s: %v, want EIO", why, old, err)
	}
	if ents, err := os.ReadDir(f.path(filepath.Dir(old))); !errors.Is(err, syscall.EIO) {
		t.Errorf("%s: list %s: %d names, %v; want EIO, not a listing without the old mail", why, filepath.Dir(old), len(ents), err)
	}
}

// TestBucketsRebalancePendingOutage adds a fourth export to a list of
// three and takes the old member of a bucket that changed hands down
// before the mover ran: that user's mail answers EIO (never a listing
// without it), while users of unchanged buckets on healthy exports work.
// A --user pass and a pass that must skip an open file keep the record,
// also across a remount; a complete pass clears it, and the same outage
// then hides nothing.
func TestBucketsRebalancePendingOutage(t *testing.T) {
	f := spreadFixture(t, "", 3)
	content := deliverSpread(t, f, rbUsers)
	if r := mvMigrate(t, f); r.Files != int64(len(rbUsers)) || r.Failed != 0 {
		t.Fatalf("first pass: %+v", r)
	}
	f.unmount(t)
	if recs := rbRecords(t, f); len(recs) != 4 || !rbRecordIs(recs["fast"], 3, false) {
		t.Fatalf("records after the first mount: %v, want fast and nfs1..nfs3 with three members, none pending", recs)
	}
	spreadConfigure(t, f, 4)
	f.mount(t)
	rbRequirePending(t, f, true)
	for tier, r := range rbRecords(t, f) {
		if !rbRecordIs(r, 4, true) {
			t.Errorf("record on %s after adding nfs4: %+v, want four members and three pending", tier, r)
		}
	}
	if out, _ := mvCheck(t, f, "--config", f.cfgPath); !strings.Contains(out, `rebalance pending: rule "mail/{hash}/{user}/**" was tier=fast demote_to=[nfs1, nfs2, nfs3]`) ||
		!strings.Contains(out, "rebalance: 2 names are still on old members") {
		t.Errorf("tierfs check while pending:\n%s", out)
	}

	moved, mover6 := rbUsers[3], rbUsers[2]
	rbTierDown(t, f, "nfs3", 1) // the old member of eb
	rbRequireEIO(t, f, moved, "nfs3 down before the rebalance")
	for _, u := range rbUsers[:2] {
		spreadUsable(t, f, u, content)
	}
	rbTierBack(f, "nfs3")
	rbWaitLogCount(t, f, `msg="tier is back" tier=nfs3`, 1)

	r := rbMigrate(t, f, "--user", moved.name)
	if r.Files != 1 || r.Rebalance == nil || r.Rebalance.Finished {
		t.Fatalf("--user pass: %+v, rebalance %+v; want user2's message moved and the record kept", r, r.Rebalance)
	}
	oldMoved, _ := spreadMail(moved)
	f.requireOnTier(t, oldMoved, "nfs4")
	f.unmount(t)
	f.mount(t)
	rbRequirePending(t, f, true)

	old6, _ := spreadMail(mover6)
	fh, err := os.Open(f.path(old6))
	if err != nil {
		t.Fatal(err)
	}
	r = rbMigrate(t, f)
	fh.Close()
	if r.Skipped[mover.SkipOpen] != 1 || r.Rebalance == nil || r.Rebalance.Finished || r.Rebalance.Left != 1 {
		t.Fatalf("pass with %s open: %+v, rebalance %+v; want it skipped, one name left and the record kept", old6, r, r.Rebalance)
	}
	rbRequirePending(t, f, true)
	r = rbMigrate(t, f)
	if r.Files != 1 || r.Rebalance == nil || !r.Rebalance.Finished || r.Rebalance.Left != 0 {
		t.Fatalf("complete pass: %+v, rebalance %+v; want %s moved and the rebalance finished", r, r.Rebalance, old6)
	}
	f.requireOnTier(t, old6, "nfs3")
	rbRequirePending(t, f, false)
	for tier, rec := range rbRecords(t, f) {
		if !rbRecordIs(rec, 4, false) {
			t.Errorf("record on %s after the rebalance: %+v, want four members, none pending", tier, rec)
		}
	}
	f.unmount(t)
	f.mount(t)
	rbRequirePending(t, f, false)

	// Nothing is left on nfs3 of eb: with it down, user2 works.
	rbTierDown(t, f, "nfs3", 1) // a new daemon since the first outage
	spreadUsable(t, f, moved, content)
	for _, u := range rbUsers[:2] {
		spreadUsable(t, f, u, content)
	}
	rbTierBack(f, "nfs3")
	f.unmount(t)
	if out, bad := mvCheck(t, f, "--config", f.cfgPath); bad || strings.Contains(out, "rebalance") {
		t.Errorf("tierfs check after the rebalance:\n%s", out)
	}
}

// rbCrashMount mounts with the daemon set to kill itself at point before
// the mount appears, and waits for the kill.
func rbCrashMount(t *testing.T, f *fixture, point string) {
	t.Helper()
	d, err := startDaemon(f.bin, []string{crashPointEnv + "=" + point},
		"mount", "--foreground", "--config", f.cfgPath, "--state-dir", f.stateDir, f.mnt)
	if err != nil {
		t.Fatal(err)
	}
	if !d.wait(mountWait) {
		d.kill()
		t.Fatalf("the daemon did not die at %s\n%s", point, d.log())
	}
	if !strings.Contains(d.log(), "crash point reached") {
		t.Fatalf("the daemon ended without reaching %s: %v\n%s", point, d.waitErr, d.log())
	}
	if isMountPoint(f.mnt) {
		unmountPath(t, f.mnt)
	}
}

// TestBucketsRebalanceRecordCrash kills the daemon while it writes the
// rebalance record, when a mount records a changed list and when a pass
// clears it: every copy is then the old record or the new one, the next
// mount still knows the rebalance is pending unless a clear had
// finished, nfs3's outage still answers EIO while it is, and a plain
// check of the unmounted tiers (or the next pass) clears it.
func TestBucketsRebalanceRecordCrash(t *testing.T) {
	users := []spreadUser{spreadUsers[5]} // eb: nfs3 → nfs4
	for _, point := range []string{"rebalance-record-before-rename", "rebalance-record-after-first", "rebalance-clear-before-rename", "rebalance-clear-after-first"} {
		// A short name: the mount point names the control socket, whose
		// path has a length limit.
		t.Run(strings.TrimPrefix(point, "rebalance-"), func(t *testing.T) {
			f := spreadFixture(t, "", 3)
			content := deliverSpread(t, f, users)
			mvMigrate(t, f)
			f.unmount(t)
			spreadConfigure(t, f, 4)
			record := strings.HasPrefix(point, "rebalance-record")
			if record {
				rbCrashMount(t, f, point)
			} else {
				f.mount(t, crashPointEnv+"="+point)
				if out, err := mvMigrateErr(f); err == nil {
					t.Fatalf("migrate succeeded although the daemon was to crash at %s:\n%s", point, out)
				}
				mvWaitKilled(t, f)
			}
			recs := rbRecords(t, f)
			for _, tier := range rbPersistent[:4] {
				r := recs[tier]
				ok := r != nil && (rbRecordIs(r, 3, false) || rbRecordIs(r, 4, true))
				if !record {
					ok = r != nil && (rbRecordIs(r, 4, true) || rbRecordIs(r, 4, false))
				}
				if !ok {
					t.Errorf("after a crash at %s the record on %s is %+v, neither the old nor the new one", point, tier, r)
				}
			}
			// Before the first rename every copy is still the old one.
			if old := recs["fast"]; strings.HasSuffix(point, "before-rename") && (record && !rbRecordIs(old, 3, false) || !record && !rbRecordIs(old, 4, true)) {
				t.Errorf("a crash before the first rename changed fast's record: %+v", old)
			}
			f.mount(t)
			if record {
				rbRequirePending(t, f, true)
				rbTierDown(t, f, "nfs3", 1)
				rbRequireEIO(t, f, users[0], "nfs3 down after a crash while recording")
				rbTierBack(f, "nfs3")
				rbWaitLogCount(t, f, `msg="tier is back" tier=nfs3`, 1)
				if r := rbMigrate(t, f); r.Files != 1 || r.Rebalance == nil || !r.Rebalance.Finished {
					t.Errorf("pass after the crash: %+v, rebalance %+v", r, r.Rebalance)
				}
			} else {
				// One copy at least still has it pending.
				rbRequirePending(t, f, true)
				f.unmount(t)
				if out, bad := mvCheck(t, f, "--config", f.cfgPath); bad || !strings.Contains(out, "rebalance: finished, nothing left on the old members; record cleared") {
					t.Errorf("tierfs check of the unmounted tiers after a crash at %s:\n%s", point, out)
				}
				f.mount(t)
			}
			rbRequirePending(t, f, false)
			old, _ := spreadMail(users[0])
			f.requireOnTier(t, old, "nfs4")
			if got, err := os.ReadFile(f.path(old)); err != nil || string(got) != string(content[old]) {
				t.Errorf("read %s: %d bytes, %v", old, len(got), err)
			}
		})
	}
}

// TestBucketsRebalancePendingReload: a tier already in the config joins
// the list with tierfs reload; the reload records the old list as
// pending at once, and the old member's outage answers EIO.
func TestBucketsRebalancePendingReload(t *testing.T) {
	cfg := fsConfig{Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}}}
	for _, n := range []string{"nfs1", "nfs2", "nfs3", "nfs4"} {
		cfg.Tiers = append(cfg.Tiers, tierSpec{Name: n, Kind: "nfs"})
	}
	f := prepareFixture(t, &cfg)
	spreadConfig(t, f, f.order, 3) // all four exports as tiers
	f.mount(t)
	users := []spreadUser{spreadUsers[0], spreadUsers[5]}
	content := deliverSpread(t, f, users)
	if r := mvMigrate(t, f); r.Files != 2 {
		t.Fatalf("first pass: %+v", r)
	}
	rbRequirePending(t, f, false)
	spreadConfig(t, f, f.order, 4)
	runOK(t, f, "reload", f.mnt)
	rbRequirePending(t, f, true)
	for tier, r := range rbRecords(t, f) {
		if !rbRecordIs(r, 4, true) {
			t.Errorf("record on %s after the reload: %+v, want four members and three pending", tier, r)
		}
	}
	rbTierDown(t, f, "nfs3", 1)
	rbRequireEIO(t, f, users[1], "nfs3 down after the reload")
	spreadUsable(t, f, users[0], content)
	rbTierBack(f, "nfs3")
	rbWaitLogCount(t, f, `msg="tier is back" tier=nfs3`, 1)
	if r := rbMigrate(t, f); r.Files != 1 || r.Rebalance == nil || !r.Rebalance.Finished {
		t.Fatalf("pass after the reload: %+v, rebalance %+v", r, r.Rebalance)
	}
	rbRequirePending(t, f, false)
}
