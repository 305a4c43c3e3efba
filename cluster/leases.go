package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// Options configure Open.
type Options struct {
	// Tier is the lease tier (config.LeaseTier); it stays the caller's.
	Tier *tiers.Tier
	// Host is this host's name in the cluster (config cluster.host).
	Host string
	// HostTimeout is how old a heartbeat may be before its host counts
	// as dead (config cluster.host_timeout).
	HostTimeout time.Duration
	// LeaseWait bounds how long Acquire waits for another host's lease.
	LeaseWait time.Duration
	Logger    *slog.Logger
	// CrashPoint names a step at which the process kills itself with
	// SIGKILL (TIERFS_CRASHPOINT); tests use it. Empty in production.
	CrashPoint string
	// ClockTolerance is the clock difference between hosts (and the
	// lease tier's server) that is tolerated; 0 means 1 s.
	ClockTolerance time.Duration
}

// DefaultClockTolerance is ClockTolerance when Options leave it 0.
const DefaultClockTolerance = time.Second

// Errors of Acquire and Release.
var (
	// ErrHeld: another live host holds the user (see HeldError).
	ErrHeld = errors.New("lease held by another host")
	// ErrLapsed: this host's heartbeat has not been renewed in time, so
	// it holds no valid lease and may acquire none.
	ErrLapsed = errors.New("this host's heartbeat is not current")
	// ErrCorrupt: the lease file is unreadable; it counts as held by an
	// unknown host and is never overwritten.
	ErrCorrupt = errors.New("lease file unreadable")
	// ErrNotHeld: Release found the lease held by another host: it was
	// taken while this host believed it held it.
	ErrNotHeld = errors.New("lease not held by this host")
)

// HeldError is the error of an Acquire refused because Holder holds the
// user's lease (or its dotlock); errors.Is(err, ErrHeld) is true.
type HeldError struct {
	Hash, User, Holder string
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("cluster: user %s/%s: %v: %s", e.Hash, e.User, ErrHeld, e.Holder)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Leases is one host's side of the protocol on the lease tier.
type Leases struct {
	o    Options
	t    *tiers.Tier
	log  *slog.Logger
	tol  time.Duration
	tmp  string // this host's temporaries directory
	keys keyLocks

	hb    heartbeat
	stats counters
	// corruptLogged is when an unreadable lease was last logged.
	corruptLogged atomic.Int64
	// hook, if set (tests), runs at every crash point before the crash.
	hook func(point string)
	// shift is added to this host's clock in the skew check (tests).
	shift atomic.Int64
}

// Open makes the protocol's directories, removes what a crashed run of
// this host left, waits out a heartbeat of a crashed run of this host
// (refusing if it keeps changing: another daemon runs as this host) and
// writes the first heartbeat. Call Run next.
func Open(ctx context.Context, o Options) (*Leases, error) {
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	l := &Leases{o: o, t: o.Tier, log: o.Logger.With("host", o.Host), tol: o.ClockTolerance, tmp: tmpDir + "/" + o.Host}
	l.keys.init()
	l.hb.base = time.Now()
	if err := l.mkdirs(Dir, hostsDir, leasesDir, locksDir, breaksDir, tmpDir, l.tmp); err != nil {
		return nil, fmt.Errorf("cluster: tier %q: %w", l.t.Name, err)
	}
	if err := l.waitOwnHeartbeat(ctx); err != nil {
		return nil, err
	}
	if err := l.clearTmp(); err != nil {
		return nil, fmt.Errorf("cluster: tier %q: %w", l.t.Name, err)
	}
	if err := l.beat(false); err != nil {
		return nil, fmt.Errorf("cluster: tier %q: first heartbeat: %w", l.t.Name, err)
	}
	return l, nil
}

func checkOptions(o *Options) error {
	switch {
	case o.Tier == nil:
		return errors.New("cluster: no lease tier")
	case o.HostTimeout <= 0:
		return fmt.Errorf("cluster: host timeout %s is not positive", o.HostTimeout)
	case o.LeaseWait < 0:
		return fmt.Errorf("cluster: lease wait %s is negative", o.LeaseWait)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ClockTolerance <= 0 {
		o.ClockTolerance = DefaultClockTolerance
	}
	return checkHost(o.Host)
}

// Close ends this host's validity and writes its heartbeat as "gone",
// so other hosts may take its users at once; no heartbeat follows (Run
// may still be running). Release the leases first: a held lease of a
// gone host is taken over without waiting. It returns when ctx ends
// even if the tier does not answer (validity has ended all the same).
// The tier stays open.
func (l *Leases) Close(ctx context.Context) error {
	l.hb.invalidate()
	done := make(chan error, 1)
	go func() { done <- l.beat(true) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("cluster: tier %q: final heartbeat: %w", l.t.Name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: tier %q: final heartbeat: %w", l.t.Name, ctx.Err())
	}
}

// crashAt kills the process at a named step when a test asked for it.
func (l *Leases) crashAt(point string) {
	if l.hook != nil {
		l.hook(point)
	}
	if l.o.CrashPoint != "" && l.o.CrashPoint == point {
		l.log.Warn("crash point reached; killing the process", "point", point)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// CrashPoints are the steps Options.CrashPoint may name.
var CrashPoints = []string{
	"lock-created", "break-read", "break-token", "break-checked", "break-renamed",
	"acquire-locked", "acquire-temp", "acquire-renamed", "acquire-written",
	"release-locked", "release-temp", "release-renamed", "release-written",
	"heartbeat-temp", "heartbeat-renamed",
}

// counters are the protocol's events since Open.
type counters struct {
	acquired, waited, refused, stolen, hostchanges, heartbeatFailures, brokenLocks, lost atomic.Uint64
}

// Stats are the counters for status and metrics.
type Stats struct {
	Acquired          uint64 // Acquire calls that succeeded
	Waited            uint64 // of those and the refused, the ones that had to wait
	Refused           uint64 // Acquire calls refused (ErrHeld, ErrCorrupt)
	Stolen            uint64 // leases taken over from a dead host
	Hostchanges       uint64 // acquisitions with another previous holder
	HeartbeatFailures uint64 // heartbeats not written
	BrokenLocks       uint64 // stale dotlocks removed
	Lost              uint64 // releases that found the lease taken (ErrNotHeld)
}

// Stats returns the counters.
func (l *Leases) Stats() Stats {
	c := &l.stats
	return Stats{
		Acquired: c.acquired.Load(), Waited: c.waited.Load(), Refused: c.refused.Load(),
		Stolen: c.stolen.Load(), Hostchanges: c.hostchanges.Load(),
		HeartbeatFailures: c.heartbeatFailures.Load(), BrokenLocks: c.brokenLocks.Load(), Lost: c.lost.Load(),
	}
}

// Host is this host's name.
func (l *Leases) Host() string { return l.o.Host }
