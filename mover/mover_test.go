package mover

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

const testTiers = `
[[tier]]
name = "tmp"
path = "/t/tmp"
kind = "tmpfs"
[[tier]]
name = "fast"
path = "/t/fast"
kind = "local"
[[tier]]
name = "slow"
path = "/t/slow"
kind = "local"
`

func testPolicy(t *testing.T, rules string) *Policy {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(testTiers+rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := PolicyFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const agingRules = `
[[rule]]
match = "volatile/**"
tier = "tmp"
[[rule]]
match = "maildir/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = "slow"
only_seen = true
min_size = 100
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = "slow"
[[rule]]
match = "**"
tier = "fast"
`

func TestDecide(t *testing.T) {
	pol := testPolicy(t, agingRules)
	now := time.Unix(1800000000, 0)
	old := now.Add(-31 * 24 * time.Hour)
	young := now.Add(-29 * 24 * time.Hour)
	name := func(tm time.Time, size int, flags string) string {
		return "maildir/f5/alice/cur/" + strconv.FormatInt(tm.Unix(), 10) + ".M1P2.host,S=" + strconv.Itoa(size) + ":2," + flags
	}
	tests := []struct {
		name   string
		path   string
		tier   int
		mtime  time.Time
		size   int64
		dst    int
		demote bool
		skip   string
	}{
		{"old mail demoted", "mail/f5/alice/storage/m.1", 1, old, 10, 2, true, ""},
		{"young mail stays", "mail/f5/alice/storage/m.2", 1, young, 10, -1, false, ""},
		{"demoted stays", "mail/f5/alice/storage/m.3", 2, young, 10, -1, false, ""},
		{"misplaced young goes home", "mail/f5/alice/x", 0, young, 10, 1, false, ""},
		{"misplaced old goes to demote tier", "mail/f5/alice/y", 0, old, 10, 2, true, ""},
		{"seen old big maildir", name(old, 200, "RS"), 1, now, 200, 2, true, ""},
		{"unseen old maildir", name(old, 200, "R"), 1, old, 200, -1, false, ""},
		{"seen young maildir (mtime old)", name(young, 200, "S"), 1, old, 200, -1, false, ""},
		{"seen old small maildir", name(old, 50, "S"), 1, old, 50, -1, false, ""},
		{"not a maildir name with only_seen", "maildir/f5/alice/dovecot-uidlist", 1, old, 500, -1, false, ""},
		{"misplaced index goes home", "index/f5/alice/dovecot.index", 2, old, 10, 1, false, ""},
		{"durable file never to tmpfs", "volatile/f5/alice/dovecot.index", 1, old, 10, -1, false, ""},
		{"lock file to tmpfs", "volatile/f5/alice/x.lock", 1, old, 10, 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats := 0
			st := &unix.Stat_t{Size: tt.size, Nlink: 1, Mtim: unix.NsecToTimespec(tt.mtime.UnixNano())}
			d := pol.decide(file{path: tt.path, tier: tt.tier}, now, func(ti int) bool { return ti == 0 },
				func() (*unix.Stat_t, error) { stats++; return st, nil })
			if d.dst != tt.dst || d.demote != tt.demote || d.skip != tt.skip {
				t.Errorf("decide(%s on %d) = dst %d demote %v skip %q, want %d %v %q", tt.path, tt.tier, d.dst, d.demote, d.skip, tt.dst, tt.demote, tt.skip)
			}
			if strings.HasPrefix(tt.path, "maildir/") && strings.Contains(tt.path, ",S=") && stats != 0 {
				t.Errorf("maildir name with S= needed %d stats, want none", stats)
			}
		})
	}
}

// tierMove is a Primitive over bare tiers (no mount): copy, rename into
// place, unlink the source. It stands in for *fs.Root in unit tests.
type tierMove struct {
	ts      []*tiers.Tier
	skip    map[string]error
	spilled []map[uint64]uint64 // by tier, as fs records them
}

func (m *tierMove) Spilled() []map[uint64]uint64 {
	out := make([]map[uint64]uint64, len(m.spilled))
	for i, s := range m.spilled {
		out[i] = maps.Clone(s)
	}
	return out
}

func (m *tierMove) ForgetSpilled(ti int, drop []fs.SpilledFile) error {
	for _, f := range drop {
		if g, ok := m.spilled[ti][f.Ino]; ok && g == f.Gen {
			delete(m.spilled[ti], f.Ino)
		}
	}
	return nil
}

func (m *tierMove) Move(ctx context.Context, p string, dst int) (int64, error) {
	if err := m.skip[p]; err != nil {
		return 0, err
	}
	for src, t := range m.ts {
		var st unix.Stat_t
		if src == dst || t.Lstat(p, &st) != nil {
			continue
		}
		tmp, _, err := tiers.CopyToTemp(t, m.ts[dst], p, nil)
		if err != nil {
			return 0, err
		}
		dir := filepath.Dir(p)
		if err := os.MkdirAll(filepath.Join(m.ts[dst].Path, dir), 0o755); err != nil {
			return 0, err
		}
		if err := m.ts[dst].Rename(tmp.Path, p, 0); err != nil {
			return 0, err
		}
		return st.Size, t.Unlink(p)
	}
	return 0, unix.ENOENT
}

// MoveLinked copies the first name, links the others beside it and
// unlinks the sources.
func (m *tierMove) MoveLinked(ctx context.Context, paths []string, dst int) (int64, error) {
	n, err := m.Move(ctx, paths[0], dst)
	if err != nil {
		return 0, err
	}
	for _, p := range paths[1:] {
		if err := os.MkdirAll(filepath.Join(m.ts[dst].Path, filepath.Dir(p)), 0o755); err != nil {
			return 0, err
		}
		if err := m.ts[dst].Link(paths[0], p); err != nil {
			return 0, err
		}
		for src, t := range m.ts {
			if src != dst {
				t.Unlink(p)
			}
		}
	}
	return n, nil
}

// CopyDir makes directory p on tier dst.
func (m *tierMove) CopyDir(p string, dst int) error {
	return os.MkdirAll(filepath.Join(m.ts[dst].Path, p), 0o755)
}

// localTiers opens n marked local tiers in temporary directories.
func localTiers(t *testing.T, names ...string) []*tiers.Tier {
	t.Helper()
	var ts []*tiers.Tier
	for i, n := range names {
		dir := filepath.Join(t.TempDir(), n)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := tiers.WriteMarker(dir, n); err != nil {
			t.Fatal(err)
		}
		tr, err := tiers.Open(tiers.Spec{Name: n, Path: dir, Kind: tiers.KindLocal}, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.ClearMoving(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		ts = append(ts, tr)
	}
	return ts
}

// link makes name a hard link of file p on tier tr.
func link(t *testing.T, tr *tiers.Tier, p, name string) {
	t.Helper()
	full := filepath.Join(tr.Path, name)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(full)
	if err := os.Link(filepath.Join(tr.Path, p), full); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, tr *tiers.Tier, p, content string, mtime time.Time) {
	t.Helper()
	full := filepath.Join(tr.Path, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(full, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

const localRules = `
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = "slow"
[[rule]]
match = "**"
tier = "fast"
`

func localPolicy(t *testing.T, rules string) *Policy {
	t.Helper()
	return policyOn(t, []string{"fast", "slow"}, rules)
}

// policyOn parses a config of local tiers named names (under /t) with
// rules.
func policyOn(t *testing.T, names []string, rules string) *Policy {
	t.Helper()
	var cfg strings.Builder
	for _, n := range names {
		fmt.Fprintf(&cfg, "[[tier]]\nname = %q\npath = \"/t/%s\"\nkind = \"local\"\n", n, n)
	}
	c, err := config.Parse("test.toml", []byte(cfg.String()+rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := PolicyFrom(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPassMovesAndSkips(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	old := time.Now().Add(-40 * 24 * time.Hour)
	put(t, ts[0], "mail/f5/alice/cur/a", "aaaa", old)
	put(t, ts[0], "mail/f5/alice/cur/b", "bb", old)
	put(t, ts[0], "mail/f5/alice/cur/open", "o", old)
	put(t, ts[0], "mail/ca/bob/cur/c", "ccc", old)
	put(t, ts[0], "mail/f5/alice/cur/young", "y", time.Now())
	put(t, ts[1], "other/misplaced", "mmmmm", time.Now())
	put(t, ts[0], "mail/f5/alice/cur/linked", "l", old)
	// One file in two users' trees: it moves once, with both names.
	link(t, ts[0], "mail/f5/alice/cur/linked", "mail/ca/bob/cur/linked")
	// A name outside the aging rule keeps its file where it is.
	put(t, ts[0], "mail/f5/alice/cur/kept", "k", old)
	link(t, ts[0], "mail/f5/alice/cur/kept", "other/kept")
	put(t, ts[0], "mail/f5/alice/cur/dup", "d", old)
	put(t, ts[1], "mail/f5/alice/cur/dup", "d", old)
	put(t, ts[0], ".tierfs-private", "x", old) // tierfs's own: never looked at
	prim := &tierMove{ts: ts, skip: map[string]error{"mail/f5/alice/cur/open": fs.ErrOpen}}
	m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: prim})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := m.RunOnce(context.Background(), Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// a, b, c and the linked file demoted, the misplaced file back to
	// fast; the open file is counted as moving in a dry run (only the
	// primitive knows it is open). A linked file counts once.
	if dry.Files != 6 || dry.Bytes != 4+2+3+5+1+1 || dry.Skipped[SkipLinkedPartial] != 1 || dry.Skipped[SkipDuplicate] != 1 {
		t.Errorf("dry run: %+v", dry)
	}
	if _, err := os.Stat(filepath.Join(ts[0].Path, "mail/f5/alice/cur/a")); err != nil {
		t.Errorf("dry run moved a file: %v", err)
	}
	rep, err := m.RunOnce(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 5 || rep.Bytes != 15 || rep.Skipped[SkipOpen] != 1 || rep.Skipped[SkipLinkedPartial] != 1 || rep.Failed != 0 {
		t.Errorf("pass: %+v", rep)
	}
	if rep.Moves["fast->slow"] != (Count{4, 10}) || rep.Moves["slow->fast"] != (Count{1, 5}) {
		t.Errorf("moves: %+v", rep.Moves)
	}
	for p, tier := range map[string]int{"mail/f5/alice/cur/a": 1, "mail/ca/bob/cur/c": 1, "mail/f5/alice/cur/young": 0, "other/misplaced": 0, "mail/f5/alice/cur/open": 0,
		"mail/f5/alice/cur/linked": 1, "mail/ca/bob/cur/linked": 1, "mail/f5/alice/cur/kept": 0, "other/kept": 0} {
		if _, err := os.Stat(filepath.Join(ts[tier].Path, p)); err != nil {
			t.Errorf("%s not on %s: %v", p, ts[tier].Name, err)
		}
	}
	st := m.Stats()
	if st.Runs != 2 || st.Files != 5 || st.Skipped[SkipOpen] != 1 || st.Running != nil || st.Last != rep {
		t.Errorf("stats: %+v", st)
	}
	// Nothing left to do but the skipped files.
	again, _ := m.RunOnce(context.Background(), Options{})
	if again.Files != 0 || again.Skipped[SkipOpen] != 1 {
		t.Errorf("second pass: %+v", again)
	}
}

func TestPassUserAndMaxBytes(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	old := time.Now().Add(-40 * 24 * time.Hour)
	for _, n := range []string{"1", "2", "3", "4"} {
		put(t, ts[0], "mail/f5/alice/cur/"+n, "0123456789", old)
		put(t, ts[0], "mail/ca/bob/cur/"+n, "0123456789", old)
	}
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}})
	rep, _ := m.RunOnce(context.Background(), Options{User: "bob", MaxBytes: 25})
	if rep.Files != 2 || rep.Bytes != 20 || rep.Stopped != "max-bytes reached" {
		t.Errorf("pass: %+v", rep)
	}
	ents, _ := os.ReadDir(filepath.Join(ts[0].Path, "mail/f5/alice/cur"))
	if len(ents) != 4 {
		t.Errorf("alice's files moved although only bob's were asked for: %d left", len(ents))
	}
}

func TestQuiet(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	old := time.Now().Add(-40 * 24 * time.Hour)
	rules := `
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = "slow"
quiet = "10m"
[[rule]]
match = "index/{hash}/{user}/**"
tier = "fast"
[[rule]]
match = "**"
tier = "fast"
`
	put(t, ts[0], "mail/f5/alice/cur/a", "a", old)
	put(t, ts[0], "mail/ca/bob/cur/b", "b", old)
	put(t, ts[0], "index/ca/bob/dovecot.index.log", "active", time.Now()) // bob is busy
	// Directories count too: make them old so only the index file is news.
	for _, d := range []string{"mail/f5/alice/cur", "mail/f5/alice", "mail/ca/bob/cur", "mail/ca/bob"} {
		os.Chtimes(filepath.Join(ts[0].Path, d), old, old)
	}
	now := time.Now().Add(time.Hour) // ctimes are now; look from an hour later
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, rules), Move: &tierMove{ts: ts}, Now: func() time.Time { return now }})
	rep, _ := m.RunOnce(context.Background(), Options{})
	if rep.Files != 2 {
		t.Errorf("an hour later both users are quiet: %+v", rep)
	}
	put(t, ts[0], "mail/f5/alice/cur/c", "c", old)
	put(t, ts[0], "mail/ca/bob/cur/d", "d", old)
	os.Chtimes(filepath.Join(ts[0].Path, "mail/f5/alice/cur/c"), old, old)
	now = time.Now() // bob's index just changed; alice's tree has a new ctime too
	rep, _ = m.RunOnce(context.Background(), Options{})
	if rep.Files != 0 || rep.Skipped[SkipQuiet] != 2 {
		t.Errorf("both trees changed just now: %+v", rep)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(100) // 100 units/s, burst 100
	start := time.Now()
	ctx := context.Background()
	for range 3 {
		l.wait(ctx, 50) // 150 units: 100 free, the rest waits about 0.5s
	}
	l.wait(ctx, 1)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("150 units at 100/s took %v, want about 0.5s", d)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	// A fresh limiter, so that the debt does not depend on how long
	// this goroutine was descheduled: 1100 units at 100/s leave 10 s
	// of debt.
	l = newLimiter(100)
	if err := l.wait(ctx, 1100); err != nil {
		t.Fatalf("a request into debt: %v", err)
	}
	if err := l.wait(ctx2, 1); err == nil {
		t.Error("wait with a canceled context and a debt returned nil")
	}
	if err := newLimiter(0).wait(ctx2, 1e12); err != nil {
		t.Errorf("unlimited: %v", err)
	}
	// A rate so small that its wait does not fit a time.Duration waits
	// (here, until the context ends) instead of not at all.
	tiny := newLimiter(1e-300)
	tiny.wait(ctx, 1)
	ctx3, cancel3 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel3()
	if err := tiny.wait(ctx3, 1); err != context.DeadlineExceeded {
		t.Errorf("second file at 1e-300 files a second: %v, want to wait until the deadline", err)
	}
}

// A hard-linked file counts once against --max-bytes and in the report.
// A pass for one user leaves it while it has a name in another's tree.
func TestPassLinkedCountsOnce(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	old := time.Now().Add(-40 * 24 * time.Hour)
	put(t, ts[0], "mail/f5/alice/cur/l", "0123456789", old)
	link(t, ts[0], "mail/f5/alice/cur/l", "mail/f5/alice/.Lists/cur/l")
	link(t, ts[0], "mail/f5/alice/cur/l", "mail/ca/bob/cur/l")
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}})
	rep, _ := m.RunOnce(context.Background(), Options{User: "bob"})
	if rep.Files != 0 || rep.Skipped[SkipLinkedPartial] != 1 {
		t.Errorf("pass for bob: %+v, want the file shared with alice skipped", rep)
	}
	rep, _ = m.RunOnce(context.Background(), Options{MaxBytes: 15})
	if rep.Files != 1 || rep.Linked != 1 || rep.Bytes != 10 || rep.Stopped != "" || len(rep.Skipped) != 0 {
		t.Errorf("pass: %+v, want one linked file of 10 bytes", rep)
	}
	for _, p := range []string{"mail/f5/alice/cur/l", "mail/f5/alice/.Lists/cur/l", "mail/ca/bob/cur/l"} {
		var st unix.Stat_t
		if err := ts[1].Lstat(p, &st); err != nil || st.Nlink != 3 {
			t.Errorf("%s on slow: %v, nlink %d; want 3 names of one file", p, err, st.Nlink)
		}
	}
}

// Names of one file whose rules want different tiers keep it in place.
func TestPassLinkedNamesDisagree(t *testing.T) {
	ts := localTiers(t, "fast", "slow", "archive")
	pol := policyOn(t, []string{"fast", "slow", "archive"}, `
[[rule]]
match = "arch/**"
tier = "archive"
`+localRules)
	put(t, ts[0], "mail/f5/alice/cur/l", "0123456789", time.Now().Add(-40*24*time.Hour))
	link(t, ts[0], "mail/f5/alice/cur/l", "arch/l") // misplaced: to archive; the mail name ages to slow
	m, _ := New(Config{Tiers: ts, Policy: pol, Move: &tierMove{ts: ts}})
	rep, _ := m.RunOnce(context.Background(), Options{})
	if rep.Files != 0 || rep.Skipped[SkipLinkedDisagree] != 1 {
		t.Errorf("pass: %+v, want the file skipped as %q", rep, SkipLinkedDisagree)
	}
}
