package tiers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// errDown is returned (as EIO) by every operation on a tier that the
// health probe found missing, replaced, relabelled or not answering.
var errDown = unix.EIO

// check fails fast when the tier is down, so that callers never block on
// a dead mount or write to the directory beneath an unmounted one.
func (t *Tier) check() error {
	if t.down.Load() {
		return errDown
	}
	return nil
}

// Up reports the tier's last known health.
func (t *Tier) Up() bool { return !t.down.Load() }

// LastError returns why the tier was last marked down ("" when up).
func (t *Tier) LastError() string {
	if p := t.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// setHealth records a probe result and reports whether it changed. A
// change drops the cached directories: they may be on a filesystem that
// is gone, or predate the one now mounted.
func (t *Tier) setHealth(err error) bool {
	var changed bool
	if err == nil {
		t.lastErr.Store(nil)
		changed = t.down.Swap(false)
	} else {
		s := err.Error()
		t.lastErr.Store(&s)
		changed = !t.down.Swap(true)
	}
	if changed {
		t.dirs.drop()
	}
	return changed
}

// markerEvery is how many probe rounds pass between re-reads of a
// persistent tier's marker: on NFS a read costs round trips, and a
// marker is rarely touched.
const markerEvery = 10

// probe checks that the tier path still leads to the directory whose
// root descriptor we hold: a lazily unmounted or replaced filesystem
// shows up as another device or inode there. With marker, or while the
// last re-read failed (so that the tier comes back promptly), it also
// re-reads the tier's marker.
func (t *Tier) probe(marker bool) error {
	var st unix.Stat_t
	if err := unix.Stat(t.Path, &st); err != nil {
		return fmt.Errorf("stat %s: %w", t.Path, err)
	}
	if st.Dev != t.rootDev || st.Ino != t.rootIno {
		return fmt.Errorf("%s is no longer the tier's filesystem (unmounted or replaced)", t.Path)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(t.root, &sfs); err != nil {
		return fmt.Errorf("statfs %s: %w", t.Path, err)
	}
	t.storeSpace(&sfs)
	if t.Persistent() && (marker || t.markerErr != nil) {
		t.markerErr = t.recheckMarker()
	}
	return t.markerErr
}

// errProbeTimeout marks a tier whose probe did not return in time.
var errProbeTimeout = errors.New("health probe timed out")

// Monitor probes every tier each interval, and re-reads the markers
// every markerEvery rounds, until ctx ends. A probe that
// takes longer than timeout marks its tier down without waiting for it;
// onChange is called from Monitor's goroutine when a tier changes state.
func Monitor(ctx context.Context, ts []*Tier, interval, timeout time.Duration, onChange func(t *Tier, up bool)) {
	inflight := make([]chan error, len(ts))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for round := 0; ; round++ {
		marker := round%markerEvery == 0
		for i, t := range ts {
			if inflight[i] == nil {
				ch := make(chan error, 1)
				inflight[i] = ch
				go func() { ch <- t.probe(marker) }()
			}
			var err error
			select {
			case err = <-inflight[i]:
				inflight[i] = nil
			case <-time.After(timeout):
				err = errProbeTimeout // still in flight: checked again next round
			}
			if t.setHealth(err) && onChange != nil {
				onChange(t, err == nil)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Attached checks, synchronously, that the tier path still leads to the
// tier's root. Callers use it before answering "no such file", before
// creating and before reporting a file synced: the answers that would be
// wrong on a vanished tier.
func (t *Tier) Attached() error {
	if err := t.check(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(t.Path, &st); err != nil || st.Dev != t.rootDev || st.Ino != t.rootIno {
		return errDown
	}
	return nil
}
