package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/loopfs"
	"github.com/tierfs/tierfs/mover"
)

// prBlock is the size of the pressure tests' files: 16 tmpfs pages, so
// that a file takes what its size says.
const prBlock = 64 << 10

// prTmpfs mounts a tmpfs of size on a new directory, unmounted at the end
// of the test: called before the fixture is made, its cleanup runs after
// tierfs is unmounted.
func prTmpfs(t *testing.T, size string) string {
	t.Helper()
	requireIntegration(t)
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tierfs-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() { unmountPath(t, dir) })
	return dir
}

// prSetup is one pressure test's layout: mvConfig's tiers and rules,
// fast and slow at the given paths ("" lets the harness choose), each
// with reserve lines (e.g. `target_free = "1MiB"`), and the mover's
// interval.
type prSetup struct {
	fast, slow               string
	fastReserve, slowReserve string
	interval                 string
	aging                    string // appended to the mail rule (e.g. `min_size = 10`)
}

// prMount makes and mounts the fixture of s.
func prMount(t *testing.T, s prSetup) *fixture {
	t.Helper()
	cfg := mvConfig(s.aging)
	cfg.Tiers[1].Path, cfg.Tiers[2].Path = s.fast, s.slow
	if s.interval != "" {
		cfg.Extra = strings.Replace(cfg.Extra, `interval = "0s"`, `interval = "`+s.interval+`"`, 1)
	}
	f := prepareFixture(t, &cfg)
	text := cfg.toml()
	text = strings.Replace(text, "name = \"fast\"\n", "name = \"fast\"\n"+s.fastReserve+"\n", 1)
	text = strings.Replace(text, "name = \"slow\"\n", "name = \"slow\"\n"+s.slowReserve+"\n", 1)
	f.writeConfig(t, text)
	if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir); err != nil {
		t.Fatalf("tierfs init: %v\n%s\nconfig:\n%s", err, out, text)
	}
	f.mount(t)
	return f
}

// prAvail is the free space of a tier's filesystem as statfs tells it.
func prAvail(t testing.TB, f *fixture, tier string) int64 {
	t.Helper()
	var s unix.Statfs_t
	if err := unix.Statfs(f.tierPath(tier, ""), &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Bavail) * s.Bsize
}

// prFill writes n mail files of prBlock bytes into alice's cur/, file i
// aged n-i hours (file 0 the oldest, all far younger than demote_after),
// and returns their names with content and inode numbers.
func prFill(t *testing.T, f *fixture, n int) ([]string, map[string][]byte, map[string]uint64) {
	t.Helper()
	var names []string
	content, inos := map[string][]byte{}, map[string]uint64{}
	for i := range n {
		rel := fmt.Sprintf("%s/cur/%d.M%dP1.h:2,", mvUserDir, 1700000000+i, i)
		content[rel] = mvContent(rel, prBlock)
		mvWrite(t, f, rel, content[rel], time.Duration(n-i)*time.Hour)
		inos[rel] = mvIno(t, f, rel)
		names = append(names, rel)
	}
	return names, content, inos
}

// prToFree is how many of the files must go for fast to be back at
// target bytes free.
func prToFree(t *testing.T, f *fixture, target int64) int {
	t.Helper()
	short := target - prAvail(t, f, "fast")
	if short <= 0 {
		t.Fatalf("premise: fast is not below its target_free (%d bytes free)", prAvail(t, f, "fast"))
	}
	return int((short + prBlock - 1) / prBlock)
}

// prRequireTiers checks that the moved files are on slow and the others
// on fast, all with their content and inode numbers through the mount.
func prRequireTiers(t *testing.T, f *fixture, names []string, moved []string, content map[string][]byte, inos map[string]uint64) {
	t.Helper()
	for _, rel := range names {
		want := "fast"
		if slices.Contains(moved, rel) {
			want = "slow"
		}
		if got := f.tiersHolding(rel); len(got) != 1 || got[0] != want {
			t.Errorf("%s: on %v, want [%s]", rel, got, want)
		}
	}
	mvCheckFiles(t, f, content, inos)
}

// Fast is a 2 MiB tmpfs with target_free 1 MiB, filled with young mail
// past it. One pass moves the oldest files until the target is met, not
// one more, keeping content and inode numbers; the oldest file, held
// open, is skipped and the next oldest goes instead; the dry run before
// predicts the counts; tierfs migrate says how much room it made.
func TestMoverMakesRoom(t *testing.T) {
	const target = 1 << 20
	f := prMount(t, prSetup{fast: prTmpfs(t, "2m"), fastReserve: `min_free = "256KiB"` + "\n" + `target_free = "1MiB"`})
	names, content, inos := prFill(t, f, 20)
	mvWrite(t, f, "index/f5/alice/dovecot.index", mvContent("index", prBlock), 1000*time.Hour) // no demote_to: stays
	k := prToFree(t, f, target)
	if k < 2 || k > 8 {
		t.Fatalf("premise: %d files to free, want a few", k)
	}

	dry := mvMigrate(t, f, "--dry-run")
	if dry.Files != int64(k) || dry.Bytes != int64(k)*prBlock || dry.MadeRoom["fast"] != (mover.Count{Files: int64(k), Bytes: int64(k) * prBlock}) {
		t.Errorf("dry run: %+v, want %d files of fast's oldest", dry, k)
	}
	cmd := exec.Command(f.bin, "migrate", "--dry-run", f.mnt)
	cmd.Env = childEnv()
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), fmt.Sprintf("would make room: %d files, ", k)) {
		t.Errorf("tierfs migrate --dry-run: %v\n%s", err, out)
	}
	prRequireTiers(t, f, names, nil, content, inos)

	open, err := os.Open(f.path(names[0]))
	if err != nil {
		t.Fatal(err)
	}
	r := mvMigrate(t, f)
	open.Close()
	if r.Files != dry.Files || r.Bytes != dry.Bytes || r.MadeRoom["fast"] != dry.MadeRoom["fast"] || r.Skipped[mover.SkipOpen] != 1 || r.Failed != 0 {
		t.Errorf("pass: %+v, want the dry run's counts %+v and the open file skipped", r, dry)
	}
	prRequireTiers(t, f, names, names[1:k+1], content, inos)
	f.requireOnTier(t, "index/f5/alice/dovecot.index", "fast")
	if avail := prAvail(t, f, "fast"); avail < target {
		t.Errorf("fast has %d bytes free after the pass, want at least its target_free %d", avail, target)
	}
	if again := mvMigrate(t, f); again.Files != 0 || len(again.MadeRoom) != 0 {
		t.Errorf("a pass at target_free: %+v, want nothing moved", again)
	}
	if got := prStatusMadeRoom(t, f); got["fast"] != r.MadeRoom["fast"] {
		t.Errorf("tierfs status: made room %+v, want the real pass's %+v", got, r.MadeRoom)
	}
}

// prStatusMadeRoom is the mover's made_room in `tierfs status --json`.
func prStatusMadeRoom(t *testing.T, f *fixture) map[string]mover.Count {
	t.Helper()
	out, err := exec.Command(f.bin, "status", "--json", f.mnt).Output()
	if err != nil {
		t.Fatalf("tierfs status --json: %v\n%s", err, out)
	}
	var rs []struct {
		Mover struct {
			MadeRoom map[string]mover.Count `json:"made_room"`
		} `json:"mover"`
	}
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 1 {
		t.Fatalf("tierfs status --json: %v\n%s", err, out)
	}
	return rs[0].Mover.MadeRoom
}

// With demote_to on the same filesystem, early demotion would free
// nothing: nothing moves, the report says why, and the daemon logs it
// once.
func TestMoverMakesRoomSameFilesystem(t *testing.T) {
	shared := prTmpfs(t, "2m")
	fast, slow := filepath.Join(shared, "fast"), filepath.Join(shared, "slow")
	for _, d := range []string{fast, slow} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := prMount(t, prSetup{fast: fast, slow: slow, fastReserve: `target_free = "1MiB"`})
	names, content, inos := prFill(t, f, 20)
	prToFree(t, f, 1<<20)
	for range 2 {
		r := mvMigrate(t, f)
		if r.Files != 0 || len(r.MadeRoom) != 0 || !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "same filesystem") }) {
			t.Errorf("pass with demote_to on fast's filesystem: %+v, want nothing moved and a note why", r)
		}
	}
	prRequireTiers(t, f, names, nil, content, inos)
	if n := strings.Count(f.d.log(), "same filesystem"); n != 1 {
		t.Errorf("the daemon logged the same filesystem %d times over two passes, want once:\n%s", n, f.d.log())
	}
}

// Fast and slow on two subvolumes of one btrfs filesystem, which differ
// in st_dev and f_fsid, are one filesystem all the same (its UUID):
// demoting early would free nothing, so nothing moves and the report
// says why.
func TestMoverMakesRoomSameFilesystemBtrfs(t *testing.T) {
	requireIntegration(t)
	shared := filepath.Join(t.TempDir(), "btrfs")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	loopfs.Btrfs(t, shared)
	fast, slow := filepath.Join(shared, "fast"), filepath.Join(shared, "slow")
	loopfs.Subvolume(t, fast)
	loopfs.Subvolume(t, slow)
	const target = 255 << 20 // more than the 256 MiB image has free
	f := prMount(t, prSetup{fast: fast, slow: slow, fastReserve: `min_free = "1MiB"` + "\n" + `target_free = "255MiB"`})
	names, content, inos := prFill(t, f, 20)
	prToFree(t, f, target)
	r := mvMigrate(t, f)
	if r.Files != 0 || len(r.MadeRoom) != 0 || !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "same filesystem") }) {
		t.Errorf("pass with demote_to on another subvolume of fast's btrfs: %+v, want nothing moved and a note why", r)
	}
	prRequireTiers(t, f, names, nil, content, inos)
}

// A move that would leave its destination below min_free is skipped as
// "no-space", in the dry run as in the real one.
func TestMoverNoSpace(t *testing.T) {
	f := prMount(t, prSetup{slow: prTmpfs(t, "1m"), slowReserve: `min_free = "1000KiB"`})
	for i := range 3 {
		rel := fmt.Sprintf("%s/cur/%d.M%dP1.h:2,S", mvUserDir, 1600000000+i, i)
		mvWrite(t, f, rel, mvContent(rel, prBlock), 40*24*time.Hour)
	}
	before := mvSnapshot(t, f)
	for _, args := range [][]string{{"--dry-run"}, nil} {
		r := mvMigrate(t, f, args...)
		if r.Files != 0 || r.Skipped[mover.SkipNoSpace] != 3 || r.Failed != 0 {
			t.Errorf("migrate %v with slow at min_free: %+v, want 3 skipped as %s", args, r, mover.SkipNoSpace)
		}
	}
	mvSameSnapshot(t, before, mvSnapshot(t, f))
}

// A file that spilled onto slow goes back to fast only when fast is not
// below target_free and the file fits above min_free.
func TestMoverMisplacedWaitsForRoom(t *testing.T) {
	f := prMount(t, prSetup{fast: prTmpfs(t, "2m"), fastReserve: `min_free = "256KiB"` + "\n" + `target_free = "512KiB"`})
	mvWrite(t, f, "archive/spilled", mvContent("spilled", 8*prBlock), 0)
	f.mkdirAll(t, "spill")
	if err := os.Rename(f.path("archive/spilled"), f.path("spill/spilled")); err != nil {
		t.Fatal(err)
	}
	rel := "spill/spilled"
	f.requireOnTier(t, rel, "slow")
	content := map[string][]byte{rel: mvContent("spilled", 8*prBlock)}
	inos := map[string]uint64{rel: mvIno(t, f, rel)}
	// index/ has no demote_to: nothing makes room on fast but deletes.
	var fill []string
	for i := 0; prAvail(t, f, "fast") >= 448<<10; i++ {
		p := fmt.Sprintf("index/f5/alice/fill.%d", i)
		mvWrite(t, f, p, mvContent(p, prBlock), 0)
		fill = append(fill, p)
	}
	steps := []struct {
		name   string
		reason string // "" when it moves
	}{
		{"below target", mover.SkipHomeBelowTarget},
		{"above target, the file would take it below min_free", mover.SkipNoSpace},
		{"fits", ""},
	}
	for _, st := range steps {
		r := mvMigrate(t, f)
		if st.reason != "" {
			if r.Files != 0 || r.Skipped[st.reason] != 1 {
				t.Errorf("%s (%d bytes free): %+v, want skipped as %s", st.name, prAvail(t, f, "fast"), r, st.reason)
			}
			f.requireOnTier(t, rel, "slow")
		} else {
			if r.Files != 1 || len(r.Skipped) != 0 {
				t.Errorf("%s (%d bytes free): %+v, want it moved home", st.name, prAvail(t, f, "fast"), r)
			}
			f.requireOnTier(t, rel, "fast")
		}
		// Free 256 KiB: about 448 KiB free, then 704 KiB, then 960 KiB.
		for range 4 {
			if len(fill) > 0 {
				os.Remove(f.path(fill[0]))
				fill = fill[1:]
			}
		}
	}
	mvCheckFiles(t, f, content, inos)
}

// The daemon starts a pass by itself when fast falls below target_free,
// long before its interval, and it moves fast's oldest files.
func TestMoverPressureStartsPass(t *testing.T) {
	const target = 1 << 20
	f := prMount(t, prSetup{fast: prTmpfs(t, "2m"), fastReserve: `target_free = "1MiB"`})
	names, content, _ := prFill(t, f, 20) // on demand only: nothing moves yet
	k := prToFree(t, f, target)
	f.unmount(t)
	cfg, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	f.writeConfig(t, strings.Replace(string(cfg), `interval = "0s"`, `interval = "1h"`, 1))
	f.mount(t)
	inos := map[string]uint64{}
	for _, rel := range names {
		inos[rel] = mvIno(t, f, rel)
	}
	deadline := time.Now().Add(mountWait)
	for !slices.Equal(f.tiersHolding(names[k-1]), []string{"slow"}) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(f.d.log(), "starting a pass to make room") {
		t.Errorf("the daemon did not say it started a pass to make room:\n%s", f.d.log())
	}
	// The pass may still be finishing its last move.
	for opsMoverStatusJSON(t, f.bin, f.mnt).Runs == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	prRequireTiers(t, f, names, names[:k], content, inos)
	if avail := prAvail(t, f, "fast"); avail < target {
		t.Errorf("fast has %d bytes free after the pass, want at least %d", avail, target)
	}
}

// The daemon is SIGKILLed at every step of a move that makes room.
// After a remount every file reads back whole from one tier with its
// inode number, no temporary is left, and the next pass makes the room.
func TestMoverPressureCrash(t *testing.T) {
	const target = 1 << 20
	for _, point := range []string{"move-before-copy", "move-after-copy", "move-after-rename", "move-after-switch", "move-after-unlink"} {
		t.Run(point, func(t *testing.T) {
			f := prMount(t, prSetup{fast: prTmpfs(t, "2m"), fastReserve: `target_free = "1MiB"`})
			names, content, inos := prFill(t, f, 20)
			k := prToFree(t, f, target)
			mvCrashMigrate(t, f, point)
			f.mount(t)
			mvCheckFiles(t, f, content, inos)
			if left := mvOwnEntries(f, ".tierfs-moving"); len(left) > 0 {
				t.Errorf("temporaries left after the remount: %v", left)
			}
			r := mvMigrate(t, f)
			if r.Failed != 0 || len(r.Skipped) != 0 {
				t.Errorf("pass after recovery: %+v", r)
			}
			prRequireTiers(t, f, names, names[:k], content, inos)
		})
	}
}
