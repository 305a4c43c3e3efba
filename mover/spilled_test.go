package mover

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// A file on its rule's demote_to tier stays, unless placement spilled
// it there and it is too young to be demoted: then it goes home as a
// misplaced file (ret). A spilled file old enough stays and its record
// goes (settled). Tiers: tmp 0, fast 1, slow 2.
func TestDecideSpilled(t *testing.T) {
	pol := testPolicy(t, agingRules)
	now := time.Unix(1800000000, 0)
	old := now.Add(-31 * 24 * time.Hour)
	young := now.Add(-29 * 24 * time.Hour)
	maildir := func(tm time.Time, flags string) string {
		return "maildir/f5/alice/cur/" + strconv.FormatInt(tm.Unix(), 10) + ".M1P2.host,S=200:2," + flags
	}
	tests := []struct {
		name         string
		path         string
		tier         int
		spilled      bool
		mtime        time.Time
		dst          int
		ret, settled bool
	}{
		{"young spilled goes home", "mail/f5/alice/storage/m.1", 2, true, young, 1, true, false},
		{"old spilled stays, record goes", "mail/f5/alice/storage/m.2", 2, true, old, -1, false, true},
		{"young demoted early stays", "mail/f5/alice/storage/m.3", 2, false, young, -1, false, false},
		{"spilled unseen maildir goes home", maildir(old, "R"), 2, true, old, 1, true, false},
		{"spilled seen old maildir stays", maildir(old, "S"), 2, true, young, -1, false, true},
		{"spilled seen young maildir goes home", maildir(young, "S"), 2, true, old, 1, true, false},
		{"recorded but on its rule's tier: nothing", "mail/f5/alice/storage/m.4", 1, true, young, -1, false, false},
		{"recorded on a tier that is no demote_to: misplaced as ever", "index/f5/alice/i", 2, true, young, 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &unix.Stat_t{Size: 200, Nlink: 1, Mtim: unix.NsecToTimespec(tt.mtime.UnixNano())}
			d := pol.decide(file{path: tt.path, tier: tt.tier, spilled: tt.spilled}, now, func(ti int) bool { return ti == 0 },
				func() (*unix.Stat_t, error) { return st, nil })
			if d.dst != tt.dst || d.ret != tt.ret || d.settled != tt.settled || d.demote {
				t.Errorf("decide = dst %d ret %v settled %v demote %v, want %d %v %v false", d.dst, d.ret, d.settled, d.demote, tt.dst, tt.ret, tt.settled)
			}
		})
	}
}

// spillFixture has fast and slow local tiers; slow holds files placed
// there by spilling (young, old), one demoted early (young, not
// recorded), and a record of a file that is gone.
type spillFixture struct {
	ts   []*tiers.Tier
	prim *tierMove
	ino  map[string]uint64
}

const goneIno = 1 << 40 // no file has it

func newSpillFixture(t *testing.T) *spillFixture {
	ts := localTiers(t, "fast", "slow")
	now := time.Now()
	f := &spillFixture{ts: ts, ino: map[string]uint64{}}
	files := map[string]time.Time{
		"mail/f5/alice/new/young": now.Add(-time.Hour), "mail/f5/alice/cur/old": now.Add(-40 * 24 * time.Hour),
		"mail/f5/alice/cur/early": now.Add(-2 * time.Hour), "mail/ca/bob/new/bobs": now.Add(-time.Hour),
	}
	recs := map[uint64]uint64{goneIno: 0}
	for p, mt := range files {
		put(t, ts[1], p, p, mt)
		var st unix.Stat_t
		gen, err := ts[1].LstatGen(p, &st)
		if err != nil {
			t.Fatal(err)
		}
		f.ino[p] = st.Ino
		if filepath.Base(p) != "early" {
			recs[st.Ino] = gen
		}
	}
	f.prim = &tierMove{ts: ts, spilled: []map[uint64]uint64{{}, recs}}
	return f
}

func (f *spillFixture) on(t *testing.T, p string) int {
	t.Helper()
	for ti, tr := range f.ts {
		if _, err := os.Stat(filepath.Join(tr.Path, p)); err == nil {
			return ti
		}
	}
	t.Fatalf("%s on no tier", p)
	return -1
}

// A --user pass returns that user's young spilled file, drops the
// record of the old one it saw, and keeps the records it did not see
// (another user's, a file that is gone); the full pass that follows
// returns the rest and drops the gone file's record; a dry run changes
// no record; the file demoted early never moves.
func TestPassSpilled(t *testing.T) {
	f := newSpillFixture(t)
	m, err := New(Config{Tiers: f.ts, Policy: localPolicy(t, localRules), Move: f.prim})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dry, err := m.RunOnce(ctx, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Files != 2 || dry.Returned["slow"].Files != 2 || len(f.prim.spilled[1]) != 4 {
		t.Errorf("dry run: %+v, records %v; want 2 returned and the 4 records kept", dry, f.prim.spilled[1])
	}
	r, err := m.RunOnce(ctx, Options{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	bobs := f.ino["mail/ca/bob/new/bobs"]
	if r.Files != 1 || r.Returned["slow"] != (Count{1, int64(len("mail/f5/alice/new/young"))}) {
		t.Errorf("--user alice: %+v, want her young spilled file returned", r)
	}
	if _, ok := f.prim.spilled[1][bobs]; !ok || len(f.prim.spilled[1]) != 2 {
		t.Errorf("records after --user alice: %v, want bob's (%d) and the gone file's (%d) kept", f.prim.spilled[1], bobs, uint64(goneIno))
	}
	r, err = m.RunOnce(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.prim.spilled[1][goneIno]; r.Files != 1 || r.Returned["slow"].Files != 1 || len(f.prim.spilled[1]) != 1 || !ok {
		t.Errorf("full pass: %+v, records %v; want bob's file returned and only the gone file's record left (missed once)", r, f.prim.spilled[1])
	}
	for p, want := range map[string]int{"mail/f5/alice/new/young": 0, "mail/ca/bob/new/bobs": 0, "mail/f5/alice/cur/old": 1, "mail/f5/alice/cur/early": 1} {
		if got := f.on(t, p); got != want {
			t.Errorf("%s on tier %d, want %d", p, got, want)
		}
	}
	if r, _ := m.RunOnce(ctx, Options{}); r.Files != 0 || len(f.prim.spilled[1]) != 0 {
		t.Errorf("second full pass: %+v, records %v; want nothing moved and the gone file's record dropped", r, f.prim.spilled[1])
	}
}

// A record whose inode number a later file took (its birth time
// differs) does not make that file spilled: it stays, and the record
// goes after two complete scans missed it.
func TestPassSpilledReusedNumber(t *testing.T) {
	f := newSpillFixture(t)
	early := f.ino["mail/f5/alice/cur/early"]
	f.prim.spilled[1][early] = 12345 // another birth time
	m, err := New(Config{Tiers: f.ts, Policy: localPolicy(t, localRules), Move: f.prim})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.RunOnce(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.RunOnce(context.Background(), Options{}); again.Files != 0 {
		t.Errorf("second pass: %+v, want nothing moved", again)
	}
	if r.Files != 2 || f.on(t, "mail/f5/alice/cur/early") != 1 || len(f.prim.spilled[1]) != 0 {
		t.Errorf("pass: %+v, records %v; want the two young spilled files returned, early kept, no record", r, f.prim.spilled[1])
	}
}
