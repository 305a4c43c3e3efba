package tiers

import (
	"testing"
	"time"
)

// A stamp inside the interval the create took is no skew; outside it,
// the skew is the distance to the nearer end, signed: positive when the
// server is ahead.
func TestSkewOf(t *testing.T) {
	before := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	after := before.Add(20 * time.Millisecond)
	for _, tt := range []struct {
		name  string
		stamp time.Time
		want  time.Duration
	}{
		{"at the start", before, 0},
		{"inside", before.Add(5 * time.Millisecond), 0},
		{"at the end", after, 0},
		{"server ahead 90s", before.Add(90*time.Second + 10*time.Millisecond), 90*time.Second - 10*time.Millisecond},
		{"server behind 90s", before.Add(-90 * time.Second), -90 * time.Second},
		{"just behind", before.Add(-time.Nanosecond), -time.Nanosecond},
	} {
		if got := SkewOf(tt.stamp, before, after); got != tt.want {
			t.Errorf("%s: SkewOf = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A monotonic reading on our side must not change the answer.
	now := time.Now()
	if got := SkewOf(now.Round(0).Add(time.Hour), now, now); got != time.Hour {
		t.Errorf("SkewOf with monotonic readings = %v, want 1h", got)
	}
}

// On a local tier the measurement finds (almost) no skew, keeps its
// sample, and leaves nothing in the moving directory; a tier that is
// down is not measured.
func TestMeasureClockSkew(t *testing.T) {
	tr := newTestTier(t, "slow")
	if err := tr.ClearMoving(); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.ClockSkew(); ok {
		t.Fatal("ClockSkew before any measurement reports a sample")
	}
	var during []string
	s, err := tr.MeasureClockSkew(func() {
		ents, _ := tr.ReadDir(MovingDir)
		for _, e := range ents {
			during = append(during, e.Name)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The kernel stamps files from a coarse clock, a tick behind ours.
	if s.Skew.Abs() > 100*time.Millisecond {
		t.Errorf("skew of a local tier: %v, want about 0", s.Skew)
	}
	if got, ok := tr.ClockSkew(); !ok || got != s {
		t.Errorf("ClockSkew = %v %v, want %v", got, ok, s)
	}
	if len(during) != 1 {
		t.Errorf("moving directory during the measurement: %q, want the one temporary", during)
	}
	if ents, err := tr.ReadDir(MovingDir); err != nil || len(ents) != 0 {
		t.Errorf("moving directory after the measurement: %v (%v), want empty", ents, err)
	}
	tr.setHealth(errDown)
	if _, err := tr.MeasureClockSkew(nil); err == nil {
		t.Error("measured a tier that is down")
	}
}
