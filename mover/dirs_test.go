package mover

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A tier no rule names is being retired: its files go back to their
// rule's tier as misplaced, and a directory no named tier holds is
// copied there (parents first), in a dry run only counted; a directory
// a named tier holds, one outside --user, or an empty lost+found, is not.
func TestPassCopiesDirsOffUnnamedTier(t *testing.T) {
	ts := localTiers(t, "fast", "slow", "old")
	now := time.Now()
	put(t, ts[2], "mail/f5/alice/cur/a", "aaaa", now)
	for _, d := range []string{"mail/f5/alice/.Empty/cur", "mail/ca/bob/.Empty", "mail/f5/alice/tmp", "lost+found"} {
		if err := os.MkdirAll(filepath.Join(ts[2].Path, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(ts[0].Path, "mail/f5/alice/tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	prim := &tierMove{ts: ts}
	m, err := New(Config{Tiers: ts, Policy: policyOn(t, []string{"fast", "slow", "old"}, localRules), Move: prim})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := m.RunOnce(context.Background(), Options{DryRun: true, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// alice's, parents first (mail/f5/alice is on fast, with tmp).
	want := []string{"mail/f5/alice/.Empty", "mail/f5/alice/.Empty/cur", "mail/f5/alice/cur"}
	if got := dirsOf(m, "alice"); !slices.Equal(got, want) || dry.Dirs != 3 || dry.Files != 1 {
		t.Errorf("dry run for alice: %d dirs (%v), %d files; want %v and 1 file", dry.Dirs, got, dry.Files, want)
	}
	if _, err := os.Stat(filepath.Join(ts[0].Path, "mail/f5/alice/.Empty")); err == nil {
		t.Error("the dry run copied a directory")
	}
	rep, err := m.RunOnce(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// mail/ca, mail/ca/bob, bob's .Empty and alice's three.
	if rep.Dirs != 6 || rep.Files != 1 || rep.Failed != 0 {
		t.Errorf("pass: %+v, want 6 directories and 1 file", rep)
	}
	for _, d := range []string{"mail/f5/alice/.Empty/cur", "mail/ca/bob/.Empty", "mail/f5/alice/cur/a"} {
		if _, err := os.Stat(filepath.Join(ts[0].Path, d)); err != nil {
			t.Errorf("%s not on fast after the pass: %v", d, err)
		}
	}
	if again, _ := m.RunOnce(context.Background(), Options{}); again.Dirs != 0 || again.Files != 0 {
		t.Errorf("second pass: %+v, want nothing left", again)
	}
}

// dirsOf lists the directories a dry-run scan for user would copy.
func dirsOf(m *Mover, user string) []string {
	s := newScan(m.pol.Load(), m.cfg.Tiers, time.Now(), user)
	s.run(context.Background())
	var out []string
	for _, c := range s.dirs {
		out = append(out, c.path)
	}
	return out
}
