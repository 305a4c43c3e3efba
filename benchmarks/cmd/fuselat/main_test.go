package main

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

// Two mounts on a reused connection number; the second trace has the
// daemon's read(2) returns, so its times split into wait and service.
const trace = `
          tierfs  2547 100.000000: fuse:fuse_request_send: connection 44 req 2 opcode 26 (FUSE_INIT) len 104
          tierfs  2547 100.000100:  fuse:fuse_request_end: connection 44 req 2 len 80 error 0
            lmtp  3001 100.001000: fuse:fuse_request_send: connection 44 req 4 opcode 1 (FUSE_LOOKUP) len 48
          tierfs  2550 100.001060:  fuse:fuse_request_end: connection 44 req 4 len 144 error 0
            lmtp  3001 100.002000: fuse:fuse_request_send: connection 44 req 6 opcode 1 (FUSE_LOOKUP) len 48
          tierfs  2551 100.002040:  fuse:fuse_request_end: connection 44 req 6 len 144 error -2
            imap  3002 100.003000: fuse:fuse_request_send: connection 44 req 8 opcode 3 (FUSE_GETATTR) len 56
          tierfs  2550 100.003100:  fuse:fuse_request_end: connection 44 req 8 len 120 error 0
        mergerfs  4000 200.000000: fuse:fuse_request_send: connection 44 req 2 opcode 26 (FUSE_INIT) len 104
        mergerfs  4001 200.000050:  fuse:fuse_request_end: connection 44 req 2 len 80 error 0
            lmtp  3001 200.001000: fuse:fuse_request_send: connection 44 req 4 opcode 3 (FUSE_GETATTR) len 56
        mergerfs  4002 200.001010: raw_syscalls:sys_exit: NR 0 = 56
        mergerfs  4002 200.001030:  fuse:fuse_request_end: connection 44 req 4 len 120 error 0
            lmtp  3001 200.002000: fuse:fuse_request_send: connection 44 req 6 opcode 3 (FUSE_GETATTR) len 56
        mergerfs  4003 200.001500: raw_syscalls:sys_exit: NR 0 = 56
        mergerfs  4003 200.002050:  fuse:fuse_request_end: connection 44 req 6 len 120 error 0
        mergerfs  4002 200.003000: raw_syscalls:sys_exit: NR 1 = 56
          tierfs  2547 200.003000:  fuse:fuse_request_end: connection 44 req 99 len 16 error 0
`

// wantOp is what a parsed mount should hold for one opcode.
type wantOp struct {
	mount               int
	server, op          string
	n, split            int
	flight, wait, serve float64
}

func checkOps(t *testing.T, mounts []*mount, want []wantOp) {
	t.Helper()
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	for _, tc := range want {
		m := mounts[tc.mount]
		if m.server != tc.server {
			t.Errorf("mount %d server %q, want %q", tc.mount, m.server, tc.server)
		}
		st := m.ops[tc.op]
		if st == nil {
			t.Errorf("mount %d: no %s", tc.mount, tc.op)
			continue
		}
		if st.n != tc.n || st.split != tc.split || !near(st.flight, tc.flight) || !near(st.wait, tc.wait) || !near(st.service, tc.serve) {
			t.Errorf("mount %d %s = %+v, want n=%d split=%d flight=%g wait=%g service=%g",
				tc.mount, tc.op, *st, tc.n, tc.split, tc.flight, tc.wait, tc.serve)
		}
	}
}

func TestReport(t *testing.T) {
	mounts, err := parse(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report(&b, mounts)
	out := b.String()
	for _, want := range []string{
		"tierfs: 4 requests, 0 ms in flight",
		"mergerfs: 3 requests",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// LOOKUP (2) sorts before GETATTR and INIT (1 each, by name).
	if i, j := strings.Index(out, "LOOKUP"), strings.Index(out, "GETATTR"); i < 0 || j < 0 || i > j {
		t.Errorf("opcodes not ordered by count:\n%s", out)
	}
	if !strings.Contains(out, "10.0") || !strings.Contains(out, "20.0") {
		t.Errorf("split times missing from the mergerfs table:\n%s", out)
	}
}

// Two mounts up at once, as tierfs-bench mounts every target of a
// round: their requests interleave and must not be mixed up.
const concurrentTrace = `
          tierfs  2547 100.000000: fuse:fuse_request_send: connection 41 req 2 opcode 26 (FUSE_INIT) len 104
          tierfs  2547 100.000100:  fuse:fuse_request_end: connection 41 req 2 len 80 error 0
        mergerfs  4000 100.000200: fuse:fuse_request_send: connection 42 req 2 opcode 26 (FUSE_INIT) len 104
        mergerfs  4001 100.000300:  fuse:fuse_request_end: connection 42 req 2 len 80 error 0
        postmark  3001 100.001000: fuse:fuse_request_send: connection 41 req 4 opcode 20 (FUSE_CREATE) len 60
        postmark  3002 100.001005: fuse:fuse_request_send: connection 42 req 4 opcode 20 (FUSE_CREATE) len 60
          tierfs  2550 100.001010: raw_syscalls:sys_exit: NR 0 = 60
        mergerfs  4002 100.001020: raw_syscalls:sys_exit: NR 0 = 60
        mergerfs  4002 100.001025:  fuse:fuse_request_end: connection 42 req 4 len 160 error 0
          tierfs  2550 100.001050:  fuse:fuse_request_end: connection 41 req 4 len 160 error 0
        postmark  3001 100.002000: fuse:fuse_request_send: connection 41 req 6 opcode 18 (FUSE_RELEASE) len 64
        mergerfs  4002 100.002010:  fuse:fuse_request_end: connection 41 req 6 len 16 error 0
`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trace   string
		opcodes [][]string // each mount's, sorted
		ops     []wantOp
	}{
		{"connection reused", trace,
			// the unknown req 99 is ignored
			[][]string{{"FUSE_GETATTR", "FUSE_INIT", "FUSE_LOOKUP"}, {"FUSE_GETATTR", "FUSE_INIT"}},
			[]wantOp{
				{0, "tierfs", "FUSE_LOOKUP", 2, 0, 60e-6 + 40e-6, 0, 0},
				{0, "tierfs", "FUSE_GETATTR", 1, 0, 100e-6, 0, 0},
				{0, "tierfs", "FUSE_INIT", 1, 0, 100e-6, 0, 0},
				// req 4: read 10 µs after queueing, reply 20 µs later.
				// req 6: thread 4003's read returned before req 6 was
				// queued, so its time cannot be split.
				{1, "mergerfs", "FUSE_GETATTR", 2, 1, 30e-6 + 50e-6, 10e-6, 20e-6},
			}},
		{"mounts up at once", concurrentTrace,
			[][]string{{"FUSE_CREATE", "FUSE_INIT", "FUSE_RELEASE"}, {"FUSE_CREATE", "FUSE_INIT"}},
			[]wantOp{
				{0, "tierfs", "FUSE_CREATE", 1, 1, 50e-6, 10e-6, 40e-6},
				{1, "mergerfs", "FUSE_CREATE", 1, 1, 20e-6, 15e-6, 5e-6},
				// The RELEASE's reply thread has no read after it was queued.
				{0, "tierfs", "FUSE_RELEASE", 1, 0, 10e-6, 0, 0},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mounts, err := parse(strings.NewReader(tc.trace))
			if err != nil {
				t.Fatal(err)
			}
			if len(mounts) != len(tc.opcodes) {
				t.Fatalf("%d mounts, want %d", len(mounts), len(tc.opcodes))
			}
			for i, want := range tc.opcodes {
				if got := slices.Sorted(maps.Keys(mounts[i].ops)); !slices.Equal(got, want) {
					t.Errorf("mount %d has %v, want %v", i, got, want)
				}
			}
			checkOps(t, mounts, tc.ops)
		})
	}
}
