package integration

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The 256 hash buckets can be spread over several NFS exports with one
// aging rule per range of buckets: a character class on the bucket's
// first hex digit sends half of them to each export (DESIGN, "Scale
// beyond one host"). Lookups, the mover and `tierfs where` all follow the
// same rules, so each user's old mail ends on the export of its bucket.
func TestMoverSpreadsBuckets(t *testing.T) {
	cfg := bucketConfig("nfs0")
	f := mountTierfs(t, cfg)
	users := []struct {
		name, hash, export string
	}{
		{"user4", "09", "nfs0"}, // first digit 0: buckets 00-7f
		{"bob", "", "nfs1"},
		{"alice", "f5", "nfs1"}, // first digit f: buckets 80-ff
	}
	var want []string
	for i, u := range users {
		h := strings.TrimSpace(runOK(t, f, "hash", u.name))
		if u.hash != "" && h != u.hash {
			t.Fatalf("tierfs hash %s = %q, want %q", u.name, h, u.hash)
		}
		if h[0] <= '7' != (u.export == "nfs0") {
			t.Fatalf("%s hashes to %s, not a bucket of %s: fix the table", u.name, h, u.export)
		}
		old := "mail/" + h + "/" + u.name + "/cur/1700000000.M1P1.h:2,S"
		young := "mail/" + h + "/" + u.name + "/new/1800000000.M2P2.h"
		mvWrite(t, f, old, mvContent(old, 20000+i), 40*24*time.Hour)
		mvWrite(t, f, young, mvContent(young, 300), 0)
		users[i].hash, want = h, append(want, old)
	}
	if r := mvMigrate(t, f); r.Files != int64(len(users)) || r.Failed != 0 {
		t.Fatalf("pass: %+v, want the %d old messages moved", r, len(users))
	}
	for i, u := range users {
		f.requireOnTier(t, want[i], u.export)
		f.requireOnTier(t, "mail/"+u.hash+"/"+u.name+"/new/1800000000.M2P2.h", "fast")
		mvMustBytes(t, f, want[i], mvContent(want[i], 20000+i))
		if out := runOK(t, f, "where", f.path(want[i])); !strings.Contains(out, u.export) {
			t.Errorf("tierfs where %s: %q, want %s", want[i], out, u.export)
		}
	}
	if _, err := os.Stat(f.tierPath("nfs1", want[0])); !os.IsNotExist(err) {
		t.Errorf("%s on the other export too: %v", want[0], err)
	}

	// Retiring export nfs0 is a rule change: the next pass moves its
	// buckets' mail to the export the rules name now.
	next := bucketConfig("nfs1")
	next.Tiers = cfg.Tiers // with the paths the fixture gave them
	f.writeConfig(t, next.toml())
	if out, err := f.run("reload", f.mnt); err != nil {
		t.Fatalf("tierfs reload: %v\n%s", err, out)
	}
	if r := mvMigrate(t, f); r.Files != 1 || r.Failed != 0 {
		t.Fatalf("pass after the rule change: %+v, want user4's message moved", r)
	}
	f.requireOnTier(t, want[0], "nfs1")
	mvMustBytes(t, f, want[0], mvContent(want[0], 20000))
}

// bucketConfig sends mail of buckets 00-7f to low and the rest to nfs1.
func bucketConfig(low string) fsConfig {
	return fsConfig{
		Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "nfs0", Kind: "local"}, {Name: "nfs1", Kind: "local"}},
		Rules: []ruleSpec{{"volatile/**", "tmp"}, {"index/**", "fast"}},
		Extra: bucketRule("mail/[0-7]?/{user}/**", low) + bucketRule("mail/{hash}/{user}/**", "nfs1") +
			"[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[mover]\ninterval = \"0s\"\n",
	}
}

// bucketRule is an aging rule for mail matching match, demoted to export.
func bucketRule(match, export string) string {
	return "[[rule]]\nmatch = \"" + match + "\"\ntier = \"fast\"\ndemote_after = \"30d\"\ndemote_to = \"" + export + "\"\n\n"
}

// runOK runs the tierfs binary and fails the test if it fails.
func runOK(t testing.TB, f *fixture, args ...string) string {
	t.Helper()
	out, err := f.run(args...)
	if err != nil {
		t.Fatalf("tierfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
