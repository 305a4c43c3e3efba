package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Lease states.
const (
	stateHeld = "held"
	stateFree = "free"
)

// lease is a parsed lease file; holder "" when there is none.
type lease struct {
	holder, state, last string
	mtime               time.Time
}

// parseLease reads "HOLDER STATE LAST\n".
func parseLease(data string) (lease, error) {
	f := strings.Fields(data)
	if len(f) != 3 || !strings.HasSuffix(data, "\n") || (f[1] != stateHeld && f[1] != stateFree) ||
		checkHost(f[0]) != nil || (f[2] != "-" && checkHost(f[2]) != nil) {
		return lease{}, fmt.Errorf("malformed lease %q", data)
	}
	return lease{holder: f[0], state: f[1], last: f[2]}, nil
}

func formatLease(holder, state, last string) string {
	if last == "" {
		last = "-"
	}
	return holder + " " + state + " " + last + "\n"
}

// readLease returns k's lease, the zero lease when there is none.
func (l *Leases) readLease(k key) (lease, error) {
	fi, err := l.readFile(k.lease())
	if errors.Is(err, unix.ENOENT) {
		return lease{}, nil
	}
	if err != nil {
		return lease{}, fmt.Errorf("cluster: read lease %s: %w", k.lease(), err)
	}
	ls, err := parseLease(fi.data)
	if err != nil {
		if l.logDue(&l.corruptLogged) {
			l.log.Error("unreadable cluster lease: the user counts as held by an unknown host; remove the file once no host serves the user",
				"user", k.String(), "file", k.lease(), "error", err)
		}
		return lease{}, fmt.Errorf("cluster: user %s: %s: %w (%w)", k, k.lease(), ErrCorrupt, err)
	}
	ls.mtime = fi.mtime
	return ls, nil
}

// Acquire makes this host the holder of user's lease, waiting up to
// LeaseWait while another live host holds it (then a *HeldError). prev
// is the previous holder when it was another host, "" when there was
// none or it was this host: the hostchange signal. The lease is this
// host's until Release, as long as Valid lies ahead and Epoch is
// unchanged. prev is said once: an Acquire of a lease this host already
// holds (say after its daemon crashed) returns "", so a caller that must
// act on prev records that it is acquiring before it calls.
func (l *Leases) Acquire(ctx context.Context, hash, user string) (prev string, err error) {
	k, err := newKey(hash, user)
	if err != nil {
		return "", err
	}
	unlock, err := l.keys.lock(ctx, k)
	if err != nil {
		return "", err
	}
	defer unlock()
	waited, err := l.retry(ctx, l.o.LeaseWait, func() (err error) {
		prev, err = l.tryAcquire(k)
		return err
	})
	l.countAcquire(k, prev, err, waited)
	return prev, err
}

// countAcquire counts and logs one Acquire's outcome.
func (l *Leases) countAcquire(k key, prev string, err error, waited bool) {
	if waited {
		l.stats.waited.Add(1)
	}
	switch {
	case err == nil:
		l.stats.acquired.Add(1)
		if prev != "" {
			l.stats.hostchanges.Add(1)
		}
	case errors.Is(err, ErrHeld) || errors.Is(err, ErrCorrupt):
		l.stats.refused.Add(1)
		var held *HeldError
		if errors.As(err, &held) {
			l.log.Debug("cluster lease refused", "user", k.String(), "holder", held.Holder)
		}
	}
}

// retry runs try until it succeeds, fails with other than ErrHeld, or
// limit has passed (with backoff between); waited reports whether
// it had to wait.
func (l *Leases) retry(ctx context.Context, limit time.Duration, try func() error) (waited bool, err error) {
	deadline := time.Now().Add(limit)
	wait := 20 * time.Millisecond
	for {
		err := try()
		if err == nil || !errors.Is(err, ErrHeld) {
			return waited, err
		}
		if time.Now().Add(wait).After(deadline) {
			if wait = time.Until(deadline); wait <= 0 {
				return waited, err
			}
		}
		waited = true
		select {
		case <-ctx.Done():
			return waited, fmt.Errorf("%w (%w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// tryAcquire is one attempt under the dotlock.
func (l *Leases) tryAcquire(k key) (prev string, err error) {
	epoch := l.Epoch()
	if err := l.checkValid(); err != nil {
		return "", err
	}
	d, err := l.lock(k)
	if err != nil {
		return "", l.lockErr(k, err)
	}
	defer l.unlockLogged(d)
	l.crashAt("acquire-locked")
	cur, err := l.readLease(k)
	if err != nil {
		return "", err
	}
	if cur.holder == l.o.Host && cur.state == stateHeld {
		return "", nil // already ours: nothing to write
	}
	if cur.holder != l.o.Host {
		prev = cur.holder
	}
	if err := l.takeable(k, cur); err != nil {
		return "", err
	}
	if err := l.commit(k, d, epoch, formatLease(l.o.Host, stateHeld, cur.holder), "acquire"); err != nil {
		return "", err
	}
	return prev, nil
}

// Check reports, taking nothing, whether this host could take user's
// lease now: nil when it is free, missing, this host's or held by a dead
// host, a *HeldError when another live host holds it. It is for a look
// that must change nothing (a dry run); its answer may be stale at once.
func (l *Leases) Check(hash, user string) error {
	k, err := newKey(hash, user)
	if err != nil {
		return err
	}
	cur, err := l.readLease(k)
	if err != nil || cur.holder == l.o.Host {
		return err
	}
	_, err = l.heldLive(k, cur)
	return err
}

// takeable fails with a HeldError unless cur is free, missing, or held
// by a dead host (which is then taken over, and counted).
func (l *Leases) takeable(k key, cur lease) error {
	held, err := l.heldLive(k, cur)
	if !held || err != nil {
		return err
	}
	l.stats.stolen.Add(1)
	l.log.Warn("taking over a user from a dead host", "user", k.String(), "holder", cur.holder)
	return nil
}

// heldLive reports whether cur is held, failing with a HeldError when
// its holder is live.
func (l *Leases) heldLive(k key, cur lease) (held bool, err error) {
	if cur.state != stateHeld {
		return false, nil
	}
	live, err := l.live(cur.holder, cur.mtime)
	if err != nil {
		return true, fmt.Errorf("cluster: user %s: %w", k, err)
	}
	if live {
		return true, &HeldError{Hash: k.hash, User: k.user, Holder: cur.holder}
	}
	return true, nil
}

// commit writes data as k's lease if d is still held, validity holds
// and the epoch is unchanged; it checks d again afterwards, since NFS
// has no compare-and-swap (see the package comment's Limits).
func (l *Leases) commit(k key, d *dotlock, epoch uint64, data, op string) error {
	if err := l.ownLock(d); err != nil {
		return fmt.Errorf("cluster: user %s: %w", k, err)
	}
	if op == "acquire" {
		if err := l.checkValid(); err != nil || l.Epoch() != epoch {
			return fmt.Errorf("cluster: user %s: %w", k, ErrLapsed)
		}
	}
	if err := l.mkdirs(leasesDir + "/" + k.hash); err != nil {
		return fmt.Errorf("cluster: user %s: %w", k, err)
	}
	if err := l.replace(k.lease(), data, op, nil); err != nil {
		return fmt.Errorf("cluster: user %s: write lease: %w", k, err)
	}
	if err := l.ownLock(d); err != nil {
		l.log.Error("cluster dotlock lost while writing the lease; giving the user up",
			"user", k.String(), "error", err)
		return fmt.Errorf("cluster: user %s: %w", k, err)
	}
	l.crashAt(op + "-written")
	return nil
}

// checkValid fails with ErrLapsed past Valid.
func (l *Leases) checkValid() error {
	if !time.Now().Before(l.Valid()) {
		return fmt.Errorf("cluster: host %q: %w", l.o.Host, ErrLapsed)
	}
	return nil
}

// lockErr turns a busy dotlock into the HeldError naming its holder.
func (l *Leases) lockErr(k key, err error) error {
	var busy errLockBusy
	if errors.As(err, &busy) {
		return &HeldError{Hash: k.hash, User: k.user, Holder: busy.holder}
	}
	return fmt.Errorf("cluster: user %s: lock: %w", k, err)
}

func (l *Leases) unlockLogged(d *dotlock) {
	if err := l.unlock(d); err != nil {
		l.log.Warn("cluster dotlock not removed; it goes stale after the host timeout", "lock", d.name, "error", err)
	}
}

// Release makes user's lease free if this host holds it. A lease that
// another host holds now is left alone, and reported with ErrNotHeld.
// It waits for the user's dotlock for up to HostTimeout plus the clock
// tolerance (when a stale one is broken), not LeaseWait.
func (l *Leases) Release(ctx context.Context, hash, user string) error {
	k, err := newKey(hash, user)
	if err != nil {
		return err
	}
	unlock, err := l.keys.lock(ctx, k)
	if err != nil {
		return err
	}
	defer unlock()
	// Only the dotlock can make it wait, and no dotlock outlives that.
	_, err = l.retry(ctx, l.o.HostTimeout+l.tol, func() error { return l.tryRelease(k) })
	return err
}

// tryRelease is one attempt under the dotlock.
func (l *Leases) tryRelease(k key) error {
	d, err := l.lock(k)
	if err != nil {
		return l.lockErr(k, err)
	}
	defer l.unlockLogged(d)
	l.crashAt("release-locked")
	cur, err := l.readLease(k)
	if err != nil {
		return err
	}
	switch {
	case cur.holder == l.o.Host && cur.state == stateHeld:
		return l.commit(k, d, 0, formatLease(l.o.Host, stateFree, l.o.Host), "release")
	case cur.state == stateHeld:
		l.stats.lost.Add(1)
		l.log.Error("releasing a user whose lease another host holds: it was taken while this host believed it held it",
			"user", k.String(), "holder", cur.holder)
		return fmt.Errorf("cluster: user %s: %w (held by %s)", k, ErrNotHeld, cur.holder)
	}
	return nil
}

// logDue reports whether a rate-limited log line is due: at most one per
// HostTimeout, since a refused user's client retries all the time.
func (l *Leases) logDue(last *atomic.Int64) bool {
	now := time.Since(l.hb.base)
	prev := last.Load()
	return (prev == 0 || now-time.Duration(prev) >= l.o.HostTimeout) && last.CompareAndSwap(prev, int64(now))
}
