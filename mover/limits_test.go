package mover

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// TestSetLimitsTargets: a pass moves to the targets in force when it
// starts, so a reload that adds the demote tier lets old mail move.
func TestSetLimitsTargets(t *testing.T) {
	tests := []struct {
		name    string
		targets []int
		files   int64
		skipped int64
	}{
		{"demote tier not a target", []int{0}, 0, 1},
		{"demote tier added", []int{0, 1}, 1, 0},
		{"nil is every tier", nil, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := localTiers(t, "fast", "slow")
			put(t, ts[0], "mail/f5/alice/cur/a", "aaaa", time.Now().Add(-40*24*time.Hour))
			m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}, Limits: Limits{Targets: []int{0}}})
			if err != nil {
				t.Fatal(err)
			}
			m.SetLimits(Limits{Targets: tt.targets})
			rep, err := m.RunOnce(context.Background(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Files != tt.files || rep.Skipped[SkipNotTarget] != tt.skipped {
				t.Errorf("pass after SetLimits(targets %v): files %d, skipped (not target) %d; want %d, %d",
					tt.targets, rep.Files, rep.Skipped[SkipNotTarget], tt.files, tt.skipped)
			}
		})
	}
}

// TestSetLimitsSchedule changes the interval of a running mover (under
// -race, concurrently with Stats) and checks that scheduled passes
// start or stop accordingly and that Stats reports the limits in force.
func TestSetLimitsSchedule(t *testing.T) {
	tests := []struct {
		name       string
		from, to   time.Duration
		wantPasses bool
	}{
		{"none to 10ms", 0, 10 * time.Millisecond, true},
		{"1h to 10ms", time.Hour, 10 * time.Millisecond, true},
		{"10ms to none", 10 * time.Millisecond, 0, false},
		{"10ms to 1h", 10 * time.Millisecond, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := localTiers(t, "fast", "slow")
			m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}, Limits: Limits{Interval: tt.from}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			if tt.from > 0 && tt.from < time.Second {
				waitRuns(t, m, 1) // the old schedule is running
			}
			want := Limits{Interval: tt.to, BytesPerSecond: 1 << 20, FilesPerSecond: 7.5}
			m.SetLimits(want)
			st := m.Stats()
			if st.Interval != want.Interval || st.BytesPerSecond != want.BytesPerSecond || st.FilesPerSecond != want.FilesPerSecond {
				t.Errorf("Stats after SetLimits(%+v): interval %v, %d B/s, %v files/s", want, st.Interval, st.BytesPerSecond, st.FilesPerSecond)
			}
			if tt.wantPasses {
				waitRuns(t, m, st.Runs+2)
				return
			}
			time.Sleep(50 * time.Millisecond) // let a pass already due finish
			before := m.Stats().Runs
			time.Sleep(200 * time.Millisecond)
			if after := m.Stats().Runs; after != before {
				t.Errorf("interval %v: %d scheduled passes ran after the change", tt.to, after-before)
			}
		})
	}
}

// TestSetLimitsRates: the rates in force when a file is moved pace it,
// also when they change after the mover was made.
func TestSetLimitsRates(t *testing.T) {
	tests := []struct {
		name     string
		from, to float64 // files per second
		min, max time.Duration
	}{
		// 5 files at 2/s: 2 in the first second's burst, 3 more at 0.5s each after the first.
		{"unlimited to 2/s", 0, 2, 800 * time.Millisecond, 10 * time.Second},
		// At 0.2/s the 5 files would take 15s.
		{"0.2/s to unlimited", 0.2, 0, 0, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := localTiers(t, "fast", "slow")
			old := time.Now().Add(-40 * 24 * time.Hour)
			for i := range 5 {
				put(t, ts[0], fmt.Sprintf("mail/f5/alice/cur/%d", i), "x", old)
			}
			m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}, Limits: Limits{FilesPerSecond: tt.from}})
			if err != nil {
				t.Fatal(err)
			}
			m.SetLimits(Limits{FilesPerSecond: tt.to})
			start := time.Now()
			rep, err := m.RunOnce(context.Background(), Options{})
			d := time.Since(start)
			if err != nil || rep.Files != 5 {
				t.Fatalf("pass: %v, %+v", err, rep)
			}
			if d < tt.min || d > tt.max {
				t.Errorf("5 files at %v/s took %v, want %v to %v", tt.to, d, tt.min, tt.max)
			}
		})
	}
}

// waitRuns waits up to 5s for the mover to have run n passes.
func waitRuns(t *testing.T, m *Mover, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m.Stats().Runs >= n {
			return
		}
	}
	t.Fatalf("mover ran %d passes in 5s, want %d", m.Stats().Runs, n)
}
