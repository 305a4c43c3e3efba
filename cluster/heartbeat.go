package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// heartbeat is this host's heartbeat state.
type heartbeat struct {
	mu    sync.Mutex // one write at a time
	seq   uint64     // last SEQ written
	tried uint64     // last SEQ attempted (a failed fsync may follow its rename)
	gone  bool       // Close wrote "gone": no heartbeat may follow

	skewWarned bool // the last skew measured was beyond the tolerance

	base     time.Time    // monotonic origin of deadline
	deadline atomic.Int64 // Valid, in ns since base
	epoch    atomic.Uint64
}

// Valid returns the time until which this host's leases of the current
// Epoch are its own (monotonic: compare it with time.Now()). It stops
// advancing when heartbeats fail; past it, use no lease.
func (l *Leases) Valid() time.Time {
	return l.hb.base.Add(time.Duration(l.hb.deadline.Load()))
}

// Epoch changes each time a heartbeat renews validity after Valid had
// passed. A lease acquired in an earlier epoch is void even when Valid
// lies ahead again: another host may have taken it in the gap.
func (l *Leases) Epoch() uint64 { return l.hb.epoch.Load() }

// invalidate ends validity now (Close).
func (h *heartbeat) invalidate() { h.deadline.Store(int64(time.Since(h.base)) - 1) }

// renewed extends validity after a heartbeat that started at start and
// completed at done; it reports whether validity had lapsed first.
func (h *heartbeat) renewed(start, done time.Time, validFor time.Duration) bool {
	lapsed := !done.Before(h.base.Add(time.Duration(h.deadline.Load())))
	if lapsed {
		h.epoch.Add(1)
	}
	h.deadline.Store(int64(start.Add(validFor).Sub(h.base)))
	return lapsed
}

// validFor is how long a heartbeat keeps this host's leases valid:
// HostTimeout - HostTimeout/6, so that a host stops using its leases
// HostTimeout/6 plus the clock tolerance before others may take them.
func (l *Leases) validFor() time.Duration { return l.o.HostTimeout - l.o.HostTimeout/6 }

// Run renews the heartbeat every HostTimeout/6 until ctx ends.
func (l *Leases) Run(ctx context.Context) {
	tick := time.NewTicker(l.o.HostTimeout / 6)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.beat(false)
		}
	}
}

// beat writes one heartbeat ("gone" from Close) and, unless gone,
// extends validity. A failure is counted and logged, and leaves
// validity where it was.
func (l *Leases) beat(gone bool) error {
	l.hb.mu.Lock()
	defer l.hb.mu.Unlock()
	if l.hb.gone {
		return errClosed
	}
	if gone {
		l.hb.gone = true
		l.hb.invalidate() // again: a heartbeat in flight may have extended it
	}
	start := time.Now()
	if err := l.writeBeat(start, gone); err != nil {
		l.stats.heartbeatFailures.Add(1)
		l.log.Warn("cluster heartbeat failed; leases stay valid only until the last good one expires",
			"error", err, "valid_for", time.Until(l.Valid()).Round(time.Millisecond))
		return err
	}
	if gone {
		return nil
	}
	if l.hb.renewed(start, time.Now(), l.validFor()) && l.Epoch() > 1 {
		l.log.Warn("cluster heartbeat renewed after validity lapsed: the leases held before are void", "epoch", l.Epoch())
	}
	return nil
}

// errClosed is the error of a heartbeat after Close.
var errClosed = errors.New("cluster: closed")

// writeBeat writes "HOST SEQ UNIXNANO[ gone]" after checking that the
// tier root is still the tier and that no other daemon writes this
// host's heartbeat.
func (l *Leases) writeBeat(start time.Time, gone bool) error {
	if err := l.t.Attached(); err != nil {
		return fmt.Errorf("lease tier %q root: %w", l.t.Name, err)
	}
	if err := l.checkOwnBeat(); err != nil {
		return err
	}
	seq := l.hb.seq + 1
	if l.hb.seq == 0 {
		seq = rand.Uint64N(1<<62) + 1 // tells this run's heartbeats from another daemon's
	}
	line := fmt.Sprintf("%s %d %d", l.o.Host, seq, start.UnixNano())
	if gone {
		line += " gone"
	}
	l.hb.tried = seq
	if err := l.replace(hostFile(l.o.Host), line+"\n", "heartbeat", func(mtime time.Time) error { return l.checkSkew(mtime, start) }); err != nil {
		return err
	}
	l.hb.seq = seq
	return nil
}

// checkOwnBeat fails when this host's heartbeat carries a SEQ this run
// did not write: another daemon uses this host name.
func (l *Leases) checkOwnBeat() error {
	if l.hb.seq == 0 {
		return nil // Open waited for any other writer to stop
	}
	fi, err := l.readFile(hostFile(l.o.Host))
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read own heartbeat: %w", err)
	}
	b, err := parseBeat(l.o.Host, fi.data)
	if err == nil && b.seq != l.hb.seq && b.seq != l.hb.tried {
		err = fmt.Errorf("sequence %d is not ours (%d)", b.seq, l.hb.seq)
	}
	if err != nil {
		return fmt.Errorf("another daemon writes host %q's heartbeat %s: %w", l.o.Host, hostFile(l.o.Host), err)
	}
	return nil
}

// beatLine is a parsed heartbeat.
type beatLine struct {
	seq  uint64
	at   time.Time // wall clock of the writer
	gone bool
}

func parseBeat(host, data string) (beatLine, error) {
	f := strings.Fields(data)
	if len(f) < 3 || len(f) > 4 || f[0] != host || (len(f) == 4 && f[3] != "gone") || !strings.HasSuffix(data, "\n") {
		return beatLine{}, fmt.Errorf("malformed heartbeat %q", data)
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return beatLine{}, fmt.Errorf("malformed heartbeat %q: %w", data, err)
	}
	ns, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return beatLine{}, fmt.Errorf("malformed heartbeat %q: %w", data, err)
	}
	return beatLine{seq: seq, at: time.Unix(0, ns), gone: len(f) == 4}, nil
}

// stale reports whether a stamp of another host's clock (or the lease
// tier's) is older than HostTimeout plus the tolerance.
func (l *Leases) stale(at time.Time) bool {
	return time.Since(at) > l.o.HostTimeout+l.tol
}

// live reports whether host counts as alive. since is the mtime of the
// lease naming it: a host with no heartbeat counts as alive until that
// is stale. An unreadable heartbeat counts as alive (fail closed).
func (l *Leases) live(host string, since time.Time) (bool, error) {
	fi, err := l.readFile(hostFile(host))
	if errors.Is(err, unix.ENOENT) {
		return !l.stale(since), nil
	}
	if err != nil {
		return false, fmt.Errorf("read heartbeat of %q: %w", host, err)
	}
	b, err := parseBeat(host, fi.data)
	if err != nil {
		l.log.Error("unreadable heartbeat; its host counts as alive", "holder", host, "error", err)
		return true, nil
	}
	return !b.gone && !l.stale(b.at), nil
}

// waitOwnHeartbeat returns once no other daemon runs as this host: its
// heartbeat is missing, gone or stale. A heartbeat that changes while
// it waits is another daemon's.
func (l *Leases) waitOwnHeartbeat(ctx context.Context) error {
	var first *beatLine
	for {
		fi, err := l.readFile(hostFile(l.o.Host))
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cluster: read own heartbeat: %w", err)
		}
		b, err := parseBeat(l.o.Host, fi.data)
		if err != nil || b.gone || l.stale(b.at) {
			return nil // ours to overwrite
		}
		if first == nil {
			first = &b
			l.log.Warn("this host's heartbeat is live: waiting for it to go stale (a crashed run of this host, or another daemon named so)", "seq", b.seq)
		} else if b.seq != first.seq {
			return fmt.Errorf("cluster: another daemon is running as host %q (its heartbeat %s keeps changing)", l.o.Host, hostFile(l.o.Host))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for host %q's old heartbeat to go stale: %w", l.o.Host, ctx.Err())
		case <-time.After(l.o.HostTimeout / 6):
		}
	}
}

// Dead reports whether host counts as dead: its heartbeat is stale,
// says gone, or is missing. Another host may then finish what host left
// unfinished for a user whose lease it takes (holding host's lock, see
// tiers.Tier.LockHostOf). An unreadable heartbeat counts as live.
func (l *Leases) Dead(host string) (bool, error) {
	if err := checkHost(host); err != nil {
		return false, err
	}
	live, err := l.live(host, time.Time{})
	return !live && err == nil, err
}

// ErrNoHeartbeat is HostDead's error for a host without a heartbeat.
var ErrNoHeartbeat = errors.New("no heartbeat")

// HostDead is Dead for a reader that has not joined the cluster (tierfs
// check): t is the lease tier, hostTimeout the cluster's host_timeout.
// A host without a heartbeat (one that never joined, or whose file an
// operator removed) gives ErrNoHeartbeat: a report cannot tell more.
func HostDead(t *tiers.Tier, host string, hostTimeout time.Duration) (bool, error) {
	o := Options{Tier: t, Host: host, HostTimeout: hostTimeout}
	if err := checkOptions(&o); err != nil {
		return false, err
	}
	l := &Leases{o: o, t: t, log: o.Logger, tol: o.ClockTolerance}
	if _, err := l.readFile(hostFile(host)); errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("cluster: host %q: %w", host, ErrNoHeartbeat)
	}
	return l.Dead(host)
}

// Leader names the mover leader: the live host with the smallest name,
// this host counting as live. Every host computes it the same way from
// the heartbeats, so no record or lock is needed, and a leader that dies
// is replaced once its heartbeat is stale or says gone. Unlike a lease
// holder's liveness, a doubt (a malformed heartbeat, an unreadable
// directory) makes this host the leader: an extra walk of the tree is
// harmless, a missing one leaves idle users' mail unaged. On an error
// Leader returns this host with it.
func (l *Leases) Leader() (string, error) {
	ents, err := l.t.ReadDir(hostsDir)
	if err != nil {
		return l.o.Host, fmt.Errorf("cluster: list %s: %w", hostsDir, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Name < l.o.Host && checkHost(e.Name) == nil {
			names = append(names, e.Name)
		}
	}
	slices.Sort(names)
	for _, h := range names {
		live, err := l.beatLive(h)
		if err != nil {
			return l.o.Host, err
		}
		if live {
			return h, nil
		}
	}
	return l.o.Host, nil
}

// beatLive reports whether host's heartbeat is current: present, well
// formed, not gone and not stale.
func (l *Leases) beatLive(host string) (bool, error) {
	fi, err := l.readFile(hostFile(host))
	if errors.Is(err, unix.ENOENT) {
		return false, nil // removed since the listing: it left
	}
	if err != nil {
		return false, fmt.Errorf("cluster: read heartbeat of %q: %w", host, err)
	}
	b, err := parseBeat(host, fi.data)
	return err == nil && !b.gone && !l.stale(b.at), nil
}
