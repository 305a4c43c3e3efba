package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tierfs/tierfs/mover"
)

// mvUserDir is alice's mail directory ({hash} of alice is f5).
const mvUserDir = "mail/f5/alice"

// mvConfig is the mover tests' layout: tmp (tmpfs), fast and slow; mail
// ages from fast to slow after 30 days; archive/ is on slow (a file
// renamed there from fast is misplaced); the mover runs only on demand.
// aging is appended to the mail rule (e.g. `only_seen = true`).
func mvConfig(aging string) fsConfig {
	return fsConfig{
		Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "slow", Kind: "local"}},
		Rules: []ruleSpec{{"volatile/**", "tmp"}, {"index/**", "fast"}, {"archive/**", "slow"}},
		Extra: "[[rule]]\nmatch = \"mail/{hash}/{user}/**\"\ntier = \"fast\"\ndemote_after = \"30d\"\ndemote_to = \"slow\"\n" + aging +
			"\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[mover]\ninterval = \"0s\"\n",
	}
}

// mvReport is the part of `tierfs migrate --json` the tests read.
type mvReport struct {
	DryRun  bool             `json:"dry_run"`
	Scanned int64            `json:"scanned"`
	Files   int64            `json:"files"`
	Bytes   int64            `json:"bytes"`
	Linked  int64            `json:"linked"` // of Files, moved with several names
	Dirs    int64            `json:"dirs"`   // directories copied off tiers no rule names
	Skipped map[string]int64 `json:"skipped"`
	Failed  int64            `json:"failed"`
	Stopped string           `json:"stopped"`
	// MadeRoom and Notes are a pass's early demotions by tier and its
	// notes about space.
	MadeRoom map[string]mover.Count `json:"made_room"`
	Notes    []string               `json:"notes"`
	Returned map[string]mover.Count `json:"returned"` // spilled files that went home, by the tier they left
}

// mvMigrate runs `tierfs migrate --json ARGS MNT` and decodes its report.
func mvMigrate(t testing.TB, f *fixture, args ...string) mvReport {
	t.Helper()
	out, err := mvMigrateErr(f, args...)
	if err != nil {
		t.Fatalf("tierfs migrate %v: %v\n%s", args, err, out)
	}
	var r mvReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("tierfs migrate %v: %v\n%s", args, err, out)
	}
	return r
}

func mvMigrateErr(f *fixture, args ...string) ([]byte, error) {
	cmd := exec.Command(f.bin, append(append([]string{"migrate", "--json"}, args...), f.mnt)...)
	cmd.Env = childEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// mvWrite writes content to rel through the mount and sets its mtime
// age into the past.
func mvWrite(t testing.TB, f *fixture, rel string, content []byte, age time.Duration) {
	t.Helper()
	f.mkdirAll(t, filepath.Dir(rel))
	if err := os.WriteFile(f.path(rel), content, 0o640); err != nil {
		t.Fatalf("write %s through tierfs: %v", rel, err)
	}
	if age > 0 {
		old := time.Now().Add(-age)
		if err := os.Chtimes(f.path(rel), old, old); err != nil {
			t.Fatalf("age %s: %v", rel, err)
		}
	}
}

// mvContent returns distinct content of n bytes for name.
func mvContent(name string, n int) []byte {
	b := make([]byte, 0, n+64)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "%s line %d\n", name, i)
	}
	return b[:n]
}

// mvEntry is one file as the tiers hold it.
type mvEntry struct {
	Tiers []string
	Sum   [32]byte
	Size  int64
	Mtime time.Time
	Mode  fs.FileMode
}

// mvSnapshot records every file on every tier (tierfs's own names at the
// tier roots included), read from the tier directories themselves.
func mvSnapshot(t testing.TB, f *fixture) map[string]*mvEntry {
	t.Helper()
	snap := map[string]*mvEntry{}
	for _, tier := range f.order {
		root := f.tiers[tier]
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == ".tierfs-tier" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			e := snap[rel]
			if e == nil {
				e = &mvEntry{Sum: sha256.Sum256(data), Size: fi.Size(), Mtime: fi.ModTime(), Mode: fi.Mode()}
				snap[rel] = e
			}
			e.Tiers = append(e.Tiers, tier)
			return nil
		})
		if err != nil {
			t.Fatalf("snapshot of tier %s: %v", tier, err)
		}
	}
	return snap
}

// mvSameSnapshot fails the test where two snapshots differ.
func mvSameSnapshot(t testing.TB, before, after map[string]*mvEntry) {
	t.Helper()
	for p, b := range before {
		a := after[p]
		switch {
		case a == nil:
			t.Errorf("%s disappeared", p)
		case strings.Join(a.Tiers, ",") != strings.Join(b.Tiers, ","):
			t.Errorf("%s moved from %v to %v", p, b.Tiers, a.Tiers)
		case a.Sum != b.Sum || a.Size != b.Size || !a.Mtime.Equal(b.Mtime) || a.Mode != b.Mode:
			t.Errorf("%s changed: %+v -> %+v", p, b, a)
		}
	}
	for p := range after {
		if before[p] == nil {
			t.Errorf("%s appeared", p)
		}
	}
}

// mvWaitKilled waits for a daemon that is to kill itself with SIGKILL at
// a crash point and detaches its dead mount.
func mvWaitKilled(t testing.TB, f *fixture) {
	t.Helper()
	d := f.d
	if !d.wait(mountWait) {
		t.Fatalf("the daemon did not die at the crash point\n%s", d.log())
	}
	var ee *exec.ExitError
	if !errors.As(d.waitErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("daemon ended with %v, want killed by SIGKILL at the crash point\n%s", d.waitErr, d.log())
	}
	f.d = nil
	if out, err := exec.Command("umount", "-l", f.mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the dead mount: %v %s", err, out)
	}
}

// mvCrashMigrate remounts f with the daemon set to kill itself at crash
// point, runs a pass that must not finish, and waits for the kill; f is
// left unmounted.
func mvCrashMigrate(t testing.TB, f *fixture, point string) {
	t.Helper()
	f.unmount(t)
	f.mount(t, crashPointEnv+"="+point)
	if out, err := mvMigrateErr(f); err == nil {
		t.Fatalf("migrate succeeded although the daemon was to crash at %s:\n%s", point, out)
	}
	mvWaitKilled(t, f)
}

// mvIno returns the inode number the mount shows for rel.
func mvIno(t testing.TB, f *fixture, rel string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(f.path(rel), &st); err != nil {
		t.Fatalf("stat %s through tierfs: %v", rel, err)
	}
	return st.Ino
}

// mvOwnEntries lists what is inside tierfs's directory dir at the root
// of each tier.
func mvOwnEntries(f *fixture, dir string) []string {
	var out []string
	for _, tier := range f.order {
		ents, _ := os.ReadDir(f.tierPath(tier, dir))
		for _, e := range ents {
			out = append(out, tier+":"+dir+"/"+e.Name())
		}
	}
	return out
}
