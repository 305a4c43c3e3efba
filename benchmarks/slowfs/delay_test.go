package slowfs

import (
	"testing"
	"time"
)

func TestWaitDelaysAndCounts(t *testing.T) {
	tests := []struct {
		op   Op
		want time.Duration
	}{
		{OpLookup, 2 * time.Millisecond},
		{OpRename, 2 * time.Millisecond},
		{OpFsync, 5 * time.Millisecond},
		{OpFsyncdir, 5 * time.Millisecond},
	}
	d := &delayer{meta: 2 * time.Millisecond, fsync: 5 * time.Millisecond}
	for _, tc := range tests {
		start := time.Now()
		d.wait(tc.op)
		if got := time.Since(start); got < tc.want {
			t.Errorf("wait(%v) took %v, want at least %v", tc.op, got, tc.want)
		}
	}
	got := d.Counts()
	want := map[string]uint64{"lookup": 1, "rename": 1, "fsync": 1, "fsyncdir": 1}
	if len(got) != len(want) {
		t.Fatalf("Counts() = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Counts()[%q] = %d, want %d", k, got[k], v)
		}
	}
}

func TestZeroDelayDoesNotSleep(t *testing.T) {
	d := &delayer{}
	start := time.Now()
	for range 1000 {
		d.wait(OpGetattr)
	}
	// 1000 calls with a 1 ms sleep each would take a second; without
	// sleeping they take microseconds. The bound is far from both.
	if got := time.Since(start); got > 500*time.Millisecond {
		t.Errorf("1000 zero-delay waits took %v", got)
	}
	if n := d.Counts()["getattr"]; n != 1000 {
		t.Errorf("getattr count = %d, want 1000", n)
	}
}

func TestOpNames(t *testing.T) {
	seen := map[string]bool{}
	for op := Op(0); op < numOps; op++ {
		name := op.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("op %d has bad or duplicate name %q", op, name)
		}
		seen[name] = true
	}
	if Op(-1).String() != "unknown" || numOps.String() != "unknown" {
		t.Error("out-of-range ops must be named unknown")
	}
}
