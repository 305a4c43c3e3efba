package mover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxHold bounds a hold, so that a backup script that dies without
// releasing it does not leave the mover stopped for good.
const MaxHold = 7 * 24 * time.Hour

// ErrHeld is the error of a pass asked for while the mover is held.
var ErrHeld = errors.New("the mover is held")

// Hold stops the mover until until: no pass starts, a scheduled or
// pressure-started one is skipped and one asked for fails with ErrHeld.
// A running pass is canceled (the file it is moving finishes its move)
// and Hold returns once it ended, so that from then on every file stays
// on the tier it is on: the persistent tiers can be copied or
// snapshotted one after the other without a file moving from one not
// yet copied to one already copied. A hold never shortens one in force
// (two backups may overlap); Release ends both. The hold is set even
// when ctx ends before the running pass did.
func (m *Mover) Hold(ctx context.Context, until time.Time) error {
	if !until.After(m.cfg.Now()) {
		return fmt.Errorf("mover: hold until %s: not in the future", until.Format(time.RFC3339))
	}
	m.mu.Lock()
	if until.After(m.heldUntil) {
		m.heldUntil = until
	}
	until = m.heldUntil
	if m.cancelPass != nil {
		m.cancelPass()
	}
	m.noteHold(until) // under mu: in the order of the holds and releases
	m.mu.Unlock()
	m.cfg.Logger.Info("mover held", "until", until.Format(time.RFC3339))
	// A pass holds sem to its end; one that takes it after this sees the
	// hold in begin.
	select {
	case m.sem <- struct{}{}:
		<-m.sem
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mover: held, but the running pass has not ended yet: %w", ctx.Err())
	}
}

// Release ends a hold and reports whether there was one.
func (m *Mover) Release() bool {
	m.mu.Lock()
	held := m.heldLocked()
	m.heldUntil = time.Time{}
	m.noteHold(time.Time{})
	m.mu.Unlock()
	if held {
		m.cfg.Logger.Info("mover released")
	}
	return held
}

func (m *Mover) noteHold(until time.Time) {
	if m.cfg.Observer != nil {
		m.cfg.Observer.Held(until)
	}
}

// HeldUntil returns the end of the hold in force, or the zero time.
func (m *Mover) HeldUntil() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.heldLocked() {
		return time.Time{}
	}
	return m.heldUntil
}

func (m *Mover) heldLocked() bool { return m.cfg.Now().Before(m.heldUntil) }

// begin starts a pass once it holds sem: it fails with ErrHeld under a
// hold, and otherwise returns the pass's context, which a Hold cancels,
// and the function that ends the pass.
func (m *Mover) begin(ctx context.Context) (context.Context, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.heldLocked() {
		return nil, nil, fmt.Errorf("%w until %s (tierfs hold)", ErrHeld, m.heldUntil.Format(time.RFC3339))
	}
	ctx, cancel := context.WithCancel(ctx)
	m.cancelPass = cancel
	return ctx, func() {
		m.mu.Lock()
		m.cancelPass = nil
		m.mu.Unlock()
		cancel()
	}, nil
}
