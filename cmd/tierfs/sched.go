package main

import (
	"os"
	"runtime"
)

// spareProcs returns the GOMAXPROCS the daemon runs with once mounted,
// given the value it started with (which go-fuse read to size its pool
// of /dev/fuse readers: between 2 and 16, plus one spare).
//
// A reader blocked in read(2) keeps its P. With GOMAXPROCS equal to the
// number of CPUs every P can be held by a blocked reader; then a reader
// woken by a request finds no P and parks until another thread hands
// one over, and the runtime's monitor keeps waking every 20 µs to take
// Ps back from the blocked readers. Both cost context switches, the
// dominant cost of a FUSE request on a small VM. Giving the scheduler
// as many Ps again as there can be readers keeps one free for every
// woken reader; the extra Ps are idle most of the time and cost
// nothing. Measured with the Dovecot workload on 2 vCPUs: about 10%
// more messages a second (README, Performance).
func spareProcs(started int) int {
	readers := min(max(started, 2), 16) + 1
	return started + readers
}

// ringProcs is spareProcs for a server over io_uring: its threads wait
// for requests in io_uring_enter(2), each holding a P as a blocked
// reader does, and the two /dev/fuse readers beside them.
func ringProcs(started, threads int) int { return started + threads + 2 }

// raiseProcs applies spareProcs (ringProcs for a server that reports
// its threads) unless the operator set GOMAXPROCS, and returns the
// value in effect. It must run after the FUSE server has been created,
// so that go-fuse's reader pool keeps its size.
func raiseProcs(srv any) int {
	cur := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		return cur
	}
	n := spareProcs(cur)
	if r, ok := srv.(interface{ Threads() int }); ok {
		n = ringProcs(cur, r.Threads())
	}
	runtime.GOMAXPROCS(n)
	return n
}
