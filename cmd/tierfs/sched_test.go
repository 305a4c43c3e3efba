package main

import "testing"

func TestSpareProcs(t *testing.T) {
	for _, tc := range []struct{ started, want int }{
		{1, 1 + 3}, // go-fuse never runs fewer than 2 readers (+1 spare)
		{2, 2 + 3}, // the benchmark VM
		{8, 8 + 9}, // one reader per P, plus the spare
		{16, 16 + 17},
		{64, 64 + 17}, // go-fuse caps its readers at 16
	} {
		if got := spareProcs(tc.started); got != tc.want {
			t.Errorf("spareProcs(%d) = %d, want %d", tc.started, got, tc.want)
		}
	}
}
