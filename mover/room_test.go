package mover

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// The heap keeps exactly the oldest files that cover what must be freed
// plus a quarter, whatever order the walk finds them in, and no more.
func TestRoomHeapKeepsOldest(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		base := time.Unix(1700000000, 0)
		var all []candidate
		for i := range rng.IntN(300) {
			all = append(all, candidate{path: fmt.Sprintf("f%03d", i), space: 1 + rng.Int64N(5000),
				mtime: base.Add(time.Duration(rng.IntN(50)) * time.Second)}) // ties by path
		}
		need := uint64(rng.IntN(100000))
		h := newRoomHeap(need)
		for _, c := range all {
			h.add(c)
		}
		slices.SortFunc(all, newer)
		var want []candidate
		var sum uint64
		for _, c := range all {
			if len(want) > 0 && sum >= h.keep {
				break
			}
			want = append(want, c)
			sum += uint64(c.space)
		}
		got := h.oldestFirst()
		if !slices.EqualFunc(got, want, func(a, b candidate) bool { return a.path == b.path }) || h.sum != sum {
			t.Fatalf("seed %d, need %d: kept %d files (%d bytes), want the oldest %d (%d bytes)", seed, need, len(got), h.sum, len(want), sum)
		}
	}
}

// A million files offered for a small shortfall: the heap holds a few.
func TestRoomHeapBounded(t *testing.T) {
	h := newRoomHeap(10 * 4096)
	base := time.Unix(1700000000, 0)
	peak := 0
	for i := range 1_000_000 {
		h.add(candidate{path: "f", space: 4096, mtime: base.Add(time.Duration(-i%7919) * time.Second)})
		peak = max(peak, h.Len())
	}
	if peak > 14 {
		t.Errorf("the heap held up to %d files for a shortfall of 10", peak)
	}
}

// spaceTiers opens local tiers with min_free and target_free in bytes.
func spaceTiers(t *testing.T, minFree, targetFree int64, names ...string) []*tiers.Tier {
	t.Helper()
	ts := localTiers(t, names...)
	for i, tr := range ts {
		tr.Close()
		spec := tiers.Spec{Name: tr.Name, Path: tr.Path, Kind: tiers.KindLocal,
			MinFree: tiers.Reserve{Bytes: minFree}, TargetFree: tiers.Reserve{Bytes: targetFree}}
		o, err := tiers.Open(spec, i)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		ts[i] = o
	}
	return ts
}

// blk is the unit of the space tests: files take whole blocks.
const blk = 4096

// projected is a pressure over ts whose samples say avail blocks free of
// 1000 on every tier (a dry projection: no resampling).
func projected(ts []*tiers.Tier, avail ...float64) *pressure {
	p := &pressure{tiers: ts, bytes: make([]int64, len(ts)), files: make([]int64, len(ts)), room: make([]bool, len(ts))}
	for i := range ts {
		p.base = append(p.base, tiers.Space{Capacity: 1000 * blk, Avail: uint64(avail[i] * blk), Sampled: true})
	}
	return p
}

// roomPass scans ts as a pass would and runs moveAll over the candidates with projection p.
func roomPass(t *testing.T, m *Mover, o Options, p *pressure) *Report {
	t.Helper()
	s := newScan(m.pol.Load(), m.cfg.Tiers, time.Now(), o.User)
	s.room = map[int]*roomHeap{0: newRoomHeap(m.cfg.Tiers[0].Shortfall(p.base[0]))}
	s.roomTo = map[[2]int]bool{{0, 1}: true}
	s.run(context.Background())
	r := &Report{Skipped: map[string]int64{}, DryRun: o.DryRun}
	m.moveAll(context.Background(), s.pol, append(s.cands, s.roomCands()...), o, r, &Progress{}, p, nil)
	return r
}

// Early demotion moves the oldest files of an aging rule, young as they
// are, until the tier is back at target_free; a file found open is
// replaced by the next oldest; min_size and rules without demote_to keep
// theirs; the dry run predicts the same.
func TestPassMakesRoom(t *testing.T) {
	ts := spaceTiers(t, 10*blk, 20*blk, "fast", "slow")
	now := time.Now()
	for i := range 8 { // a0 oldest; a block each
		put(t, ts[0], fmt.Sprintf("mail/f5/alice/cur/a%d", i), string(make([]byte, blk)), now.Add(-time.Duration(10-i)*time.Hour))
	}
	put(t, ts[0], "mail/f5/alice/cur/tiny", "t", now.Add(-100*time.Hour))               // below min_size
	put(t, ts[0], "other/ancient", string(make([]byte, blk)), now.Add(-1000*time.Hour)) // no demote_to
	rules := "[[rule]]\nmatch = \"mail/{hash}/{user}/**\"\ntier = \"fast\"\ndemote_after = \"30d\"\ndemote_to = \"slow\"\nmin_size = 10\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n"
	prim := &tierMove{ts: ts, skip: map[string]error{"mail/f5/alice/cur/a1": fs.ErrOpen}}
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, rules), Move: prim})
	// 17.5 blocks free: 2.5 short of 20; a0, a2, a3 (a1 is open) free 3.
	dry := roomPass(t, m, Options{DryRun: true}, projected(ts, 17.5, 900))
	if dry.Files != 3 || dry.MadeRoom["fast"] != (Count{3, 3 * blk}) {
		t.Errorf("dry run: %+v, want a0..a2 (the primitive alone knows a1 is open)", dry)
	}
	r := roomPass(t, m, Options{}, projected(ts, 17.5, 900))
	if r.Files != 3 || r.Skipped[SkipOpen] != 1 || r.MadeRoom["fast"] != (Count{3, 3 * blk}) {
		t.Errorf("pass: %+v, want a0, a2, a3 moved and a1 skipped as open", r)
	}
	for p, tier := range map[string]int{"a0": 1, "a1": 0, "a2": 1, "a3": 1, "a4": 0, "a7": 0, "tiny": 0} {
		if _, err := os.Stat(filepath.Join(ts[tier].Path, "mail/f5/alice/cur", p)); err != nil {
			t.Errorf("%s not on %s: %v", p, ts[tier].Name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(ts[0].Path, "other/ancient")); err != nil {
		t.Errorf("a file of a rule without demote_to moved: %v", err)
	}
}

// No move leaves its destination below min_free, and a misplaced file
// goes home only while its home is not below target_free.
func TestPassNoSpace(t *testing.T) {
	ts := spaceTiers(t, 10*blk, 20*blk, "fast", "slow")
	old := time.Now().Add(-40 * 24 * time.Hour)
	put(t, ts[0], "mail/f5/alice/cur/big", string(make([]byte, 2*blk)), old)
	put(t, ts[0], "mail/f5/alice/cur/small", string(make([]byte, blk)), old)
	put(t, ts[1], "other/misplaced", "m", time.Now())
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}})
	for _, c := range []struct {
		fast, slow      float64
		files, noSpace  int64
		home            int64
		misplacedOnFast bool
	}{
		{30, 11.5, 2, 1, 0, true},   // slow takes small (11.5-1 >= 10), not big; the misplaced file goes home
		{16.9, 900, 2, 0, 1, false}, // fast below target even after the demotions (+3): the misplaced file waits
	} {
		for _, p := range []string{"big", "small"} { // back to the start
			os.Rename(filepath.Join(ts[1].Path, "mail/f5/alice/cur", p), filepath.Join(ts[0].Path, "mail/f5/alice/cur", p))
		}
		os.Rename(filepath.Join(ts[0].Path, "other/misplaced"), filepath.Join(ts[1].Path, "other/misplaced"))
		s := newScan(m.pol.Load(), ts, time.Now(), "")
		s.run(context.Background())
		r := &Report{Skipped: map[string]int64{}}
		m.moveAll(context.Background(), s.pol, s.cands, Options{}, r, &Progress{}, projected(ts, c.fast, c.slow), nil)
		if r.Files != c.files || r.Skipped[SkipNoSpace] != c.noSpace || r.Skipped[SkipHomeBelowTarget] != c.home {
			t.Errorf("fast %v free, slow %v: %+v", c.fast, c.slow, r)
		}
		_, err := os.Stat(filepath.Join(ts[0].Path, "other/misplaced"))
		if (err == nil) != c.misplacedOnFast {
			t.Errorf("fast %v free: misplaced file on fast: %v, want %v", c.fast, err == nil, c.misplacedOnFast)
		}
	}
}

// Two directories of one filesystem: no room is made, and the plan says
// why.
func TestRoomPlanSameFilesystem(t *testing.T) {
	ts := spaceTiers(t, 10*blk, 20*blk, "fast", "slow")
	heaps, pairs, notes := roomPlan(localPolicy(t, localRules), ts, projected(ts, 15, 900))
	if len(heaps) != 0 || len(pairs) != 0 || len(notes) != 1 || !slices.ContainsFunc(notes, func(n string) bool {
		return n == sameFSNote(ts[0], ts[1])
	}) {
		t.Errorf("plan on one filesystem: heaps %v, pairs %v, notes %q", heaps, pairs, notes)
	}
}

// The daemon's trigger: a tier below target_free that a rule demotes
// from to another filesystem, and only with a schedule.
func TestPressured(t *testing.T) {
	dirs := []string{filepath.Join(t.TempDir(), "fast"), filepath.Join(t.TempDir(), "slow")}
	shm, err := os.MkdirTemp("/dev/shm", "tierfs-pressured")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	dirs[0] = shm
	var ts []*tiers.Tier
	for i, n := range []string{"fast", "slow"} {
		os.MkdirAll(dirs[i], 0o755)
		if _, err := tiers.WriteMarker(dirs[i], n); err != nil {
			t.Fatal(err)
		}
		tr, err := tiers.Open(tiers.Spec{Name: n, Path: dirs[i], Kind: tiers.KindLocal, TargetFree: tiers.Reserve{Bytes: 1 << 62}}, i)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		ts = append(ts, tr)
	}
	if ts[0].SameFilesystem(ts[1]) || !ts[0].BelowTarget() {
		t.Skip("premise: /dev/shm and the temporary directory are one filesystem, or fast is not below target")
	}
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}, Limits: Limits{Interval: time.Hour}})
	if got := m.pressured(); got != "fast" {
		t.Errorf("pressured() = %q with fast below target, want fast", got)
	}
	m.SetLimits(Limits{})
	if got := m.pressured(); got != "" {
		t.Errorf("pressured() = %q with interval 0 (on demand only), want none", got)
	}
	m.SetLimits(Limits{Interval: time.Hour})
	m.SetPolicy(localPolicy(t, "[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n"))
	if got := m.pressured(); got != "" {
		t.Errorf("pressured() = %q with no rule demoting from fast, want none", got)
	}
}

// Pressure-started passes: at most one per pressureGap; one that made
// no room doubles the wait, up to the interval; making room resets it.
func TestPressureSchedule(t *testing.T) {
	var p pressureSchedule
	now := time.Unix(1700000000, 0)
	if !p.due(now) {
		t.Fatal("the first pressure pass is not due at once")
	}
	for i, c := range []struct {
		madeRoom bool
		wait     time.Duration
	}{
		{false, pressureGap}, {false, 2 * pressureGap}, {false, 4 * pressureGap}, {false, 8 * pressureGap},
		{false, 5 * time.Minute}, {true, pressureGap}, {true, pressureGap},
	} {
		p.ran(now, c.madeRoom, 5*time.Minute)
		if p.due(now.Add(c.wait-time.Second)) || !p.due(now.Add(c.wait)) {
			t.Errorf("pass %d (made room: %v): next due after %v, want %v", i, c.madeRoom, p.next.Sub(now), c.wait)
		}
	}
}

// Early demotion honours --user and --max-bytes, and hard-linked files
// move with all their names or stay.
func TestPassMakesRoomNarrowed(t *testing.T) {
	ts := spaceTiers(t, 10*blk, 20*blk, "fast", "slow")
	now := time.Now()
	block := string(make([]byte, blk))
	put(t, ts[0], "mail/f5/alice/cur/linked", block, now.Add(-50*time.Hour)) // oldest: both names move
	link(t, ts[0], "mail/f5/alice/cur/linked", "mail/ca/bob/cur/linked")
	put(t, ts[0], "mail/f5/alice/cur/kept", block, now.Add(-40*time.Hour)) // a name outside aging: stays
	link(t, ts[0], "mail/f5/alice/cur/kept", "other/kept")
	for i := range 4 {
		put(t, ts[0], fmt.Sprintf("mail/ca/bob/cur/b%d", i), block, now.Add(-time.Duration(30-i)*time.Hour))
		put(t, ts[0], fmt.Sprintf("mail/f5/alice/cur/a%d", i), block, now.Add(-time.Duration(20-i)*time.Hour))
	}
	m, _ := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}})
	bob := roomPass(t, m, Options{User: "bob", DryRun: true}, projected(ts, 17, 900))
	if bob.Files != 3 || bob.MadeRoom["fast"].Files != 3 {
		t.Errorf("--user bob: %+v, want b0, b1, b2 (the linked file has a name of alice's)", bob)
	}
	capped := roomPass(t, m, Options{MaxBytes: 2 * blk, DryRun: true}, projected(ts, 16, 900))
	if capped.Files != 2 || capped.Stopped != "max-bytes reached" {
		t.Errorf("--max-bytes of 2 blocks: %+v", capped)
	}
	r := roomPass(t, m, Options{}, projected(ts, 16, 900))
	if r.Files != 4 || r.Linked != 1 || r.Skipped[SkipLinkedPartial] != 1 {
		t.Errorf("pass: %+v, want linked (both names), b0, b1, b2 and kept skipped", r)
	}
	for p, tier := range map[string]int{"mail/f5/alice/cur/linked": 1, "mail/ca/bob/cur/linked": 1, "mail/f5/alice/cur/kept": 0,
		"other/kept": 0, "mail/ca/bob/cur/b2": 1, "mail/ca/bob/cur/b3": 0, "mail/f5/alice/cur/a0": 0} {
		if _, err := os.Stat(filepath.Join(ts[tier].Path, p)); err != nil {
			t.Errorf("%s not on %s: %v", p, ts[tier].Name, err)
		}
	}
}
