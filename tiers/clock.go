package tiers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ClockSample is one measurement of how far the clock that stamps a
// tier's files (an NFS server's) is from this host's.
type ClockSample struct {
	// Skew is the server's time minus ours: positive when the server is
	// ahead. A stamp within the create's own duration counts as 0.
	Skew time.Duration
	At   time.Time // when it was measured
}

// clock holds the last ClockSample of a tier.
type clock struct{ p atomic.Pointer[ClockSample] }

// ClockSkew returns the last measurement, and false before the first.
func (t *Tier) ClockSkew() (ClockSample, bool) {
	if p := t.clock.p.Load(); p != nil {
		return *p, true
	}
	return ClockSample{}, false
}

// MeasureClockSkew creates a temporary file in the tier's MovingName,
// compares the mtime the tier's filesystem gave it with this host's
// clock read around the create, and removes it. created, if set, runs
// between the create and the removal (a crash test's hook); a file a
// crash leaves there is cleared at the next mount (ClearMoving).
func (t *Tier) MeasureClockSkew(created func()) (ClockSample, error) {
	name := fmt.Sprintf("%s/clock-%016x", t.MovingName(), rand.Uint64())
	before := time.Now()
	fd, err := t.Open(name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600, nil)
	after := time.Now()
	if err != nil {
		return ClockSample{}, fmt.Errorf("tier %q: create %s: %w", t.Name, name, err)
	}
	var st unix.Stat_t
	serr := unix.Fstat(fd, &st)
	unix.Close(fd)
	if created != nil {
		created()
	}
	if err := errors.Join(serr, t.Unlink(name)); err != nil {
		return ClockSample{}, fmt.Errorf("tier %q: stat and remove %s: %w", t.Name, name, err)
	}
	s := ClockSample{Skew: SkewOf(time.Unix(st.Mtim.Unix()), before, after), At: after}
	t.clock.p.Store(&s)
	return s, nil
}

// SkewOf is how far stamp lies outside [before, after], the interval in
// which the server stamped the file by our clock: negative when it is
// earlier (the server is behind), 0 within it. Wall clock times only:
// stamp carries no monotonic reading.
func SkewOf(stamp, before, after time.Time) time.Duration {
	before, after = before.Round(0), after.Round(0)
	switch {
	case stamp.Before(before):
		return stamp.Sub(before)
	case stamp.After(after):
		return stamp.Sub(after)
	}
	return 0
}
