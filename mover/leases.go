package mover

import (
	"context"
	"errors"
	"slices"

	"github.com/tierfs/tierfs/fs"
)

// Skip reasons of a mover in a cluster.
const (
	SkipOtherHost = "other-host"   // the user is served by another host
	SkipNoUser    = "outside-user" // in a cluster, outside every per-user directory
)

// UserHolder holds users' leases for moves in a cluster; *fs.Root
// implements it (holding nothing outside a cluster).
type UserHolder interface {
	HoldUser(ctx context.Context, p string) (user string, release func(), err error)
	// UserOf names the user of p as HoldUser does ("" for none).
	UserOf(p string) string
	// PeekUser is HoldUser for a dry run: it takes nothing, and fails
	// when another host serves the user now.
	PeekUser(p string) (user string, err error)
	// HeldUsers names the users this host holds now and their
	// per-user directories; ok is false when the directories can only
	// be found by a walk (fs.Root.HeldUsers).
	HeldUsers() (users, dirs []string, ok bool)
}

var _ UserHolder = (*fs.Root)(nil)

// DeadHosts takes over what dead hosts of the cluster left (*fs.Root
// implements it): their unfinished changes and kept links.
type DeadHosts interface {
	SettleDeadHosts(ctx context.Context) error
}

// settleDead lets p take over what dead hosts left before a pass scans:
// a kept link it removes no longer holds its file back.
func (m *Mover) settleDead(ctx context.Context, o Options) {
	d, ok := m.cfg.Move.(DeadHosts)
	if !ok || o.DryRun {
		return
	}
	if err := d.SettleDeadHosts(ctx); err != nil {
		m.cfg.Logger.Warn("mover: cannot take over all that dead hosts left; the next pass tries again", "err", err)
	}
}

// leaseBatch holds the leases of the users whose files the pass moves,
// one user's batch at a time: candidates come in scan order, so a
// user's files are together, and a lease is given up once the pass
// moves on to another user's files.
type leaseBatch struct {
	h       UserHolder
	dryRun  bool              // peek: a dry run takes no lease
	held    map[string]func() // users held for the current candidates
	skipped map[string]bool   // users another host serves, skipped for the pass
}

func newLeaseBatch(p Primitive, dryRun bool) *leaseBatch {
	h, _ := p.(UserHolder)
	return &leaseBatch{h: h, dryRun: dryRun, held: map[string]func(){}, skipped: map[string]bool{}}
}

// take holds the users of every name of c, releasing the users of the
// previous candidates that c has not. It returns the reason to skip c
// ("" to move it).
func (b *leaseBatch) take(ctx context.Context, c candidate) string {
	if b.h == nil {
		return ""
	}
	paths := c.links
	if len(paths) == 0 {
		paths = []string{c.path}
	}
	var users []string
	for _, p := range paths {
		if b.skipped[b.h.UserOf(p)] {
			return SkipOtherHost // asked once a pass
		}
		user, release, err := b.hold(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNoUser):
			return SkipNoUser
		case err != nil:
			b.skipped[user] = true
			return SkipOtherHost
		}
		if b.held[user] != nil {
			release() // held already for an earlier candidate
		} else if user != "" {
			b.held[user] = release
		}
		users = append(users, user)
	}
	for u, release := range b.held {
		if !slices.Contains(users, u) {
			release()
			delete(b.held, u)
		}
	}
	return ""
}

// hold is HoldUser, or PeekUser in a dry run (release then does nothing).
func (b *leaseBatch) hold(ctx context.Context, p string) (string, func(), error) {
	if !b.dryRun {
		return b.h.HoldUser(ctx, p)
	}
	user, err := b.h.PeekUser(p)
	return user, func() {}, err
}

// done releases every user still held.
func (b *leaseBatch) done() {
	for u, release := range b.held {
		release()
		delete(b.held, u)
	}
}

// note adds the pass's lease outcome to its report.
func (b *leaseBatch) note(r *Report) {
	r.OtherHosts = int64(len(b.skipped))
	if r.Skipped[SkipNoUser] > 0 {
		r.Notes = append(r.Notes, "in a cluster, files outside the per-user directories are not moved (no lease says which host may change them)")
	}
}
