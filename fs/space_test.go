package fs

import (
	"bytes"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// fakeTier is a tier as the overflow choice sees it.
type fakeTier struct {
	tmpfs, short, down bool
}

func (f fakeTier) Persistent() bool { return !f.tmpfs }
func (f fakeTier) Short() bool      { return f.short }
func (f fakeTier) Attached() error {
	if f.down {
		return syscall.EIO
	}
	return nil
}

func TestOverflowTier(t *testing.T) {
	var (
		tmp   = fakeTier{tmpfs: true}
		ok    = fakeTier{}
		short = fakeTier{short: true}
		down  = fakeTier{down: true}
	)
	tests := []struct {
		name               string
		ts                 []fakeTier
		home, demote, skip int
		retiring           uint64
		want               int
		foreign            uint64
	}{
		{"demote_to first", []fakeTier{short, ok, ok}, 0, 2, -1, 0, 2, 0},
		{"no demote_to: lookup order", []fakeTier{short, ok, ok}, 0, -1, -1, 0, 1, 0},
		{"demote_to short", []fakeTier{short, ok, short}, 0, 2, -1, 0, 1, 0},
		{"demote_to down", []fakeTier{short, ok, down}, 0, 2, -1, 0, 1, 0},
		{"never tmpfs", []fakeTier{tmp, short, ok}, 1, -1, -1, 0, 2, 0},
		{"tmpfs rule to the first persistent", []fakeTier{{tmpfs: true, short: true}, tmp, ok}, 0, -1, -1, 0, 2, 0},
		{"never home", []fakeTier{ok, ok}, 0, 0, -1, 0, 1, 0},
		{"none qualifies", []fakeTier{tmp, short, down}, 1, 2, -1, 0, -1, 0},
		{"retry skips the failed tier", []fakeTier{ok, ok, ok}, 0, 2, 2, 0, 1, 0},
		{"retry with nothing left", []fakeTier{ok, tmp, ok}, 0, 2, 2, 0, -1, 0},
		{"a tier no rule names last", []fakeTier{short, ok, ok}, 0, -1, -1, bit(1), 2, 0},
		{"a tier no rule names if nothing else", []fakeTier{short, ok, down}, 0, -1, -1, bit(1), 1, 0},
		{"never another bucket's member", []fakeTier{short, ok, ok, ok}, 0, 3, 3, 0, 2, bit(1)},
		{"no member of another bucket, even if nothing else", []fakeTier{short, ok, down}, 0, -1, -1, 0, -1, bit(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := []int{tt.home}
			for i := range tt.ts {
				if i != tt.home {
					order = append(order, i)
				}
			}
			if got := overflowTier(tt.ts, order, tt.home, tt.demote, tt.skip, tt.foreign, tt.retiring); got != tt.want {
				t.Errorf("overflowTier = %d, want %d", got, tt.want)
			}
		})
	}
}

// spaceRoot is a root over three local tiers in temporary directories,
// enough for placement: the rules send "a/**" to fast, demoted to slow,
// "m/**" to mid and the rest to fast. A tier is short when its
// min_free is more than any filesystem holds.
func spaceRoot(t *testing.T, log *bytes.Buffer, short ...string) *Root {
	t.Helper()
	var ts []*tiers.Tier
	for i, name := range []string{"fast", "mid", "slow"} {
		dir := t.TempDir()
		if _, err := tiers.WriteMarker(dir, name); err != nil {
			t.Fatal(err)
		}
		spec := tiers.Spec{Name: name, Path: dir, Kind: tiers.KindLocal}
		for _, s := range short {
			if s == name {
				spec.MinFree = tiers.Reserve{Bytes: 1 << 62}
			}
		}
		tr, err := tiers.Open(spec, i)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		ts = append(ts, tr)
	}
	var rules []policy.Rule
	for i, m := range []string{"a/**", "m/**", "**"} {
		g, err := policy.CompileGlob(m)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, policy.Rule{Glob: g, Tier: i % 2}) // m/** names mid
	}
	rules[0].DemoteTo = policy.Spread{2}
	p, err := policy.NewPlacement(rules, len(ts))
	if err != nil {
		t.Fatal(err)
	}
	pl := newPlacing(p)
	r := &Root{tiers: ts, log: slog.New(slog.NewTextHandler(log, nil)), space: newSpaceState(len(ts))}
	r.place.Store(pl)
	return r
}

func TestPlaceNew(t *testing.T) {
	tests := []struct {
		short []string
		path  string
		want  int
	}{
		{nil, "a/x", 0},
		{[]string{"fast"}, "a/x", 2},         // demote_to
		{[]string{"fast"}, "b/x", 1},         // lookup order
		{[]string{"fast", "slow"}, "a/x", 1}, // demote_to short
		{[]string{"fast", "mid", "slow"}, "a/x", 0},
	}
	for _, tt := range tests {
		var log bytes.Buffer
		r := spaceRoot(t, &log, tt.short...)
		if got, home, _ := r.placeNew(tt.path); got != tt.want || home != 0 {
			t.Errorf("short %v: placeNew(%q) = %d, %d; want %d, 0", tt.short, tt.path, got, home, tt.want)
		}
	}
}

// A create that failed for want of space resamples its tier and goes to
// the overflow tier, even when the sample does not show the tier short.
func TestRetryTier(t *testing.T) {
	var log bytes.Buffer
	r := spaceRoot(t, &log)
	if got := r.retryTier("a/x", 0); got != 2 {
		t.Errorf("retryTier after fast failed = %d, want slow (2)", got)
	}
	if got := r.retryTier("a/x", 2); got != 1 {
		t.Errorf("retryTier after slow failed = %d, want mid (1)", got)
	}
	r = spaceRoot(t, &log, "fast", "mid")
	if got := r.retryTier("a/x", 2); got != 0 {
		t.Errorf("retryTier after the overflow tier failed, the others short = %d, want the rule's fast (0)", got)
	}
	r = spaceRoot(t, &log, "fast", "mid", "slow")
	if got := r.retryTier("a/x", 0); got != -1 {
		t.Errorf("retryTier after the rule's tier failed, the others short = %d, want none", got)
	}
}

// The short and recovered lines are logged once per change, not per
// look.
func TestNoteSpaceEdges(t *testing.T) {
	var log bytes.Buffer
	r := spaceRoot(t, &log, "fast")
	for range 3 {
		r.noteSpace(0)
		r.noteSpace(1)
	}
	r.tiers[0].SetReserves(tiers.Reserve{}, tiers.Reserve{}) // a reload that drops min_free
	for range 3 {
		r.noteSpace(0)
	}
	out := log.String()
	if n := strings.Count(out, "tier is short"); n != 1 || !strings.Contains(out, "level=WARN msg=\"tier is short") || !strings.Contains(out, "tier=fast") {
		t.Errorf("want one warning that fast is short, got:\n%s", out)
	}
	if n := strings.Count(out, "tier has space again"); n != 1 || !strings.Contains(out, "level=INFO msg=\"tier has space again") {
		t.Errorf("want one info line that fast recovered, got:\n%s", out)
	}
	if strings.Contains(out, "tier=mid") {
		t.Errorf("mid was never short but was logged:\n%s", out)
	}
}
