package integration

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// opsReloadMoverConfig is tmp, fast and slow with mail on fast; with
// mover set it ages mail to slow and ends with that [mover] table.
// Without aging no rule names slow, so slow is no move target.
func opsReloadMoverConfig(mover string) fsConfig {
	aging := ""
	if mover != "" {
		aging = "demote_after = \"30d\"\ndemote_to = \"slow\"\n"
	}
	return fsConfig{
		Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "slow", Kind: "local"}},
		Rules: []ruleSpec{{"volatile/**", "tmp"}},
		Extra: "[[rule]]\nmatch = \"mail/{hash}/{user}/**\"\ntier = \"fast\"\n" + aging +
			"\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[mover]\n" + mover,
	}
}

// opsMoverStatus is the mover part of `tierfs status --json`.
type opsMoverStatus struct {
	Runs           uint64  `json:"runs"`
	Interval       int64   `json:"interval_ns"`
	BytesPerSecond int64   `json:"bytes_per_second"`
	FilesPerSecond float64 `json:"files_per_second"`
}

func opsMoverStatusJSON(t testing.TB, bin, mnt string) opsMoverStatus {
	t.Helper()
	out, err := exec.Command(bin, "status", "--json", mnt).Output()
	if err != nil {
		t.Fatalf("tierfs status --json %s: %v\n%s", mnt, err, out)
	}
	var rs []struct {
		Mover opsMoverStatus `json:"mover"`
	}
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 1 {
		t.Fatalf("tierfs status --json: %v\n%s", err, out)
	}
	return rs[0].Mover
}

// TestOpsReloadMover reloads a mounted filesystem's mover settings:
// adding demote_to makes the next migrate move old mail (and the moved
// file keeps its inode number also after the kernel forgot it, so the
// new target reached the filesystem), new intervals and rate limits show
// in status, and an interval set where there was none starts the
// schedule.
func TestOpsReloadMover(t *testing.T) {
	cfg := opsReloadMoverConfig("")
	cfg.Extra += "interval = \"0s\"\n"
	f := newFixture(t, cfg)
	f.mount(t)
	reload := func(mover string) {
		t.Helper()
		next := opsReloadMoverConfig(mover)
		next.Tiers = cfg.Tiers
		f.writeConfig(t, next.toml())
		if out, err := f.run("reload", f.mnt); err != nil {
			t.Fatalf("tierfs reload: %v\n%s", err, out)
		}
	}
	const a, b = mvUserDir + "/cur/a", mvUserDir + "/cur/b"
	mvWrite(t, f, a, mvContent("a", 1000), 40*24*time.Hour)
	ino := mvIno(t, f, a)
	if r := mvMigrate(t, f); r.Files != 0 {
		t.Fatalf("migrate without an aging rule moved %d files", r.Files)
	}
	f.requireOnTier(t, a, "fast")

	reload("interval = \"0s\"\nbytes_per_second = \"10MiB\"\nfiles_per_second = 50\n")
	if r := mvMigrate(t, f); r.Files != 1 {
		t.Fatalf("migrate after a reload adding demote_to: %+v", r)
	}
	f.requireOnTier(t, a, "slow")
	if got := mvIno(t, f, a); got != ino {
		t.Errorf("moved file: st_ino %d, want %d", got, ino)
	}
	dropCaches(t)
	if got := mvIno(t, f, a); got != ino {
		t.Errorf("moved file looked up anew: st_ino %d, want %d (slow is not a move target of the filesystem)", got, ino)
	}

	tests := []struct {
		mover string
		want  opsMoverStatus
	}{
		{"interval = \"1h\"\nbytes_per_second = \"10MiB\"\nfiles_per_second = 50\n", opsMoverStatus{Interval: int64(time.Hour), BytesPerSecond: 10 << 20, FilesPerSecond: 50}},
		{"interval = \"2h\"\nbytes_per_second = 1000\nfiles_per_second = 2.5\n", opsMoverStatus{Interval: int64(2 * time.Hour), BytesPerSecond: 1000, FilesPerSecond: 2.5}},
		{"interval = \"1s\"\n", opsMoverStatus{Interval: int64(time.Second)}},
	}
	for _, tt := range tests {
		reload(tt.mover)
		got := opsMoverStatusJSON(t, f.bin, f.mnt)
		got.Runs = 0
		if got != tt.want {
			t.Errorf("status after reload with\n%s: %+v, want %+v", strings.TrimSpace(tt.mover), got, tt.want)
		}
	}

	// The last reload set a 1s interval where the mount had none: the
	// scheduled pass moves the next old file without a migrate.
	mvWrite(t, f, b, mvContent("b", 1000), 40*24*time.Hour)
	for deadline := time.Now().Add(15 * time.Second); len(f.tiersHolding(b)) != 1 || f.tiersHolding(b)[0] != "slow"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: on %v 15s after the interval became 1s; status: %+v", b, f.tiersHolding(b), opsMoverStatusJSON(t, f.bin, f.mnt))
		}
	}
}
