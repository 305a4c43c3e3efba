package fs

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

// asHost opens tier tr's directory again as host's daemon would ("":
// a daemon outside a cluster).
func asHost(t *testing.T, tr *tiers.Tier, host string) *tiers.Tier {
	t.Helper()
	spec := tr.Spec
	spec.Host = host
	h, err := tiers.Open(spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// mustBegin writes an intent renaming from to to in j.
func mustBegin(t *testing.T, j *journal, from, to string) string {
	t.Helper()
	id, err := j.begin(intent{Op: opRenameDir, From: from, To: to, Tiers: []string{"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A tier one daemon owns keeps its journal under the old name, so the
// intents of a tierfs without cluster mode are still replayed after the
// upgrade. On a shared tier each host reads only its own journal; a
// mount is refused while intents remain that no daemon of its kind
// will replay: the unsuffixed journal on a tier that became shared, a
// host's journal on a tier that is no longer shared.
func TestJournalPerHost(t *testing.T) {
	base := spillTier(t)
	alone, a, b := asHost(t, base, ""), asHost(t, base, "a"), asHost(t, base, "b")
	j, err := openJournal(alone)
	if err != nil {
		t.Fatal(err)
	}
	old := mustBegin(t, j, "x", "y")
	if _, err := os.Stat(filepath.Join(base.Path, JournalDir, old+".json")); err != nil {
		t.Fatalf("intent of a tier one daemon owns: %v", err)
	}
	if _, err := openJournal(a); err == nil || !strings.Contains(err.Error(), "shared = false") {
		t.Errorf("host a's mount with an unfinished intent of a daemon outside the cluster = %v, want it refused", err)
	}
	if err := j.end(old); err != nil {
		t.Fatal(err)
	}

	ja, err := openJournal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := openJournal(b)
	if err != nil {
		t.Fatal(err)
	}
	ida, idb := mustBegin(t, ja, "a1", "a2"), mustBegin(t, jb, "b1", "b2")
	for _, tc := range []struct {
		j    *journal
		want string
	}{{ja, ida}, {jb, idb}} {
		pend, err := tc.j.pending()
		if err != nil || !slices.Equal(slices.Collect(maps.Keys(pend)), []string{tc.want}) {
			t.Errorf("%s: pending = %v, %v; want only %s", tc.j.dir, pend, err, tc.want)
		}
	}
	if ps, err := PendingPaths(a, b.StateName(JournalDir)); err != nil || !slices.Equal(ps, []string{"b1", "b2"}) {
		t.Errorf("PendingPaths of b's journal = %v, %v", ps, err)
	}
	if _, err := openJournal(alone); err == nil || !strings.Contains(err.Error(), `host "a"`) {
		t.Errorf("a mount outside the cluster with hosts' unfinished intents = %v, want it refused naming a host", err)
	}
}

// Recovery empties only this host's kept links on a shared tier: the
// other hosts' belong to files their kernels still know.
func TestPrepareKeptPerHost(t *testing.T) {
	base := spillTier(t)
	a, b := asHost(t, base, "a"), asHost(t, base, "b")
	if err := prepareKept([]*tiers.Tier{a, b}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*tiers.Tier{a, b} {
		if err := os.WriteFile(filepath.Join(base.Path, h.StateName(KeptDir), "0123"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := prepareKept([]*tiers.Tier{a}); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]bool{"a": false, "b": true} {
		_, err := os.Stat(filepath.Join(base.Path, KeptDir+"."+h, "0123"))
		if (err == nil) != want {
			t.Errorf("after host a's recovery, host %s's kept link: %v, want it there: %v", h, err, want)
		}
	}
}

// Each host records its own spilled files on a shared tier, and reads
// back only its own.
func TestSpilledPerHost(t *testing.T) {
	base := spillTier(t)
	a, b := asHost(t, base, "a"), asHost(t, base, "b")
	log := slog.New(slog.DiscardHandler)
	sa, sb := openSpilled(a, log), openSpilled(b, log)
	sa.add(SpilledFile{Ino: 1, Gen: 10})
	sb.add(SpilledFile{Ino: 2, Gen: 20})
	sa.close()
	sb.close()
	if _, err := os.Stat(filepath.Join(base.Path, spilledName+".a")); err != nil {
		t.Errorf("host a's records: %v", err)
	}
	for _, tc := range []struct {
		tier *tiers.Tier
		want map[uint64]uint64
	}{{a, map[uint64]uint64{1: 10}}, {b, map[uint64]uint64{2: 20}}} {
		s := openSpilled(tc.tier, log)
		if got := s.snapshot(); !maps.Equal(got, tc.want) {
			t.Errorf("host %s reads spilled records %v, want %v", tc.tier.Host, got, tc.want)
		}
		s.close()
	}
}
