package fs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The mover's lease errors (see HoldUser).
var (
	// ErrOtherHost: another live host serves the file's user.
	ErrOtherHost = errors.New("the user is served by another host")
	// ErrNoUser: in a cluster, the file lies outside every per-user
	// directory, where no lease says which host may change it.
	ErrNoUser = errors.New("outside every per-user directory")
)

// HoldUser makes this host hold, for a move, the lease of the user
// whose directory p (a mount path) lies beneath, without waiting for
// another host's. user names the user ("hash/user"); release ends the
// hold, and a lease the hold took is released soon after unless a
// request came for the user meanwhile. Outside a cluster it holds
// nothing and never fails.
func (r *Root) HoldUser(ctx context.Context, p string) (user string, release func(), err error) {
	s := r.leases
	if s == nil {
		return "", func() {}, nil
	}
	u, _ := s.userOf(p)
	if u == nil {
		return "", nil, ErrNoUser
	}
	user = u.key.hash + "/" + u.key.user
	if err := u.hold(ctx, holdWait); err != nil {
		s.unpin(u)
		return user, nil, err
	}
	return user, func() { u.opens.Add(-1); s.unpin(u) }, nil
}

// PeekUser is HoldUser for a dry run, which must change nothing: it
// names p's user and fails with ErrOtherHost when another live host
// holds the user's lease now, taking no lease and no record.
func (r *Root) PeekUser(p string) (user string, err error) {
	s := r.leases
	if s == nil {
		return "", nil
	}
	k, _, ok := s.userKeyOf(p)
	if !ok {
		return "", ErrNoUser
	}
	user = k.hash + "/" + k.user
	c, ok := s.l.(interface{ Check(hash, user string) error })
	if !ok {
		return user, nil
	}
	if err := c.Check(k.hash, k.user); err != nil {
		return user, fmt.Errorf("%w: %w", ErrOtherHost, err)
	}
	return user, nil
}

// hold pins u's lease for a move (an open file would), taking it if
// this host does not hold it, waiting at most wait for another host's
// (0: as long as Acquire does). A lease it takes is stamped idle, so
// that the worker releases it once unpinned unless a request came
// meanwhile; fresh is left in the past so that such a request stamps
// it.
func (u *userLease) hold(ctx context.Context, wait time.Duration) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.s
	if u.gone.Load() {
		return errFreedRecord // its caller did not pin it: never acquire on it
	}
	if u.valid(s.now()) {
		u.state = leaseHeld // a release in progress is called off
		if u.fresh.Load() == 0 {
			// It was releasing: the worker must see it held again, or
			// it would take it for free and never release it.
			u.fresh.Store(1)
		}
		u.opens.Add(1)
		return nil
	}
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	if err := u.acquire(ctx); errors.Is(err, errSettle) {
		return err
	} else if err != nil {
		return fmt.Errorf("%w: %w", ErrOtherHost, err)
	}
	u.last.Store(s.now() - int64(s.after))
	u.fresh.Store(1)
	u.opens.Add(1)
	return nil
}

// errFreedRecord: hold was asked of a lease record already freed.
var errFreedRecord = errors.New("internal error: the user's lease record was freed")

// holdWait bounds the mover's wait for a lease: it does not wait for
// another host, it skips the user.
const holdWait = 50 * time.Millisecond

// UserOf names the user whose directory p lies beneath as HoldUser
// does ("hash/user"; "" outside a cluster or every such directory).
func (r *Root) UserOf(p string) string {
	if r.leases == nil {
		return ""
	}
	k, _, ok := r.leases.userKeyOf(p)
	if !ok {
		return ""
	}
	return k.hash + "/" + k.user
}

// ReleaseLeases releases every lease this host holds, at shutdown once
// nothing is served any more.
func (r *Root) ReleaseLeases(ctx context.Context) {
	s := r.leases
	if s == nil {
		return
	}
	for _, u := range s.heldUsers() {
		u.mu.Lock()
		if u.state != leaseFree {
			u.release(ctx)
		}
		u.mu.Unlock()
	}
}

// HeldUsers names the users ("hash/user") whose leases this host holds
// now, as status counts them, and their per-user directories (mount
// paths), for a mover pass that scans only those. ok is false when a
// per-user directory's glob has a pattern segment, whose directories
// only a walk finds. Outside a cluster it holds none.
func (r *Root) HeldUsers() (users, dirs []string, ok bool) {
	s := r.leases
	if s == nil {
		return nil, nil, true
	}
	for _, g := range s.dirs {
		if !g.Expandable() {
			return nil, nil, false
		}
	}
	for _, u := range s.heldUsers() {
		if u.fresh.Load() == 0 {
			continue // released, or lost with the heartbeat
		}
		users = append(users, u.key.hash+"/"+u.key.user)
		for _, g := range s.dirs {
			hash := u.key.hash
			if hash == "_" {
				hash = "" // the key of a glob without {hash}
			}
			if d, found := g.UserPath(hash, u.key.user); found {
				dirs = append(dirs, d) // not found: the user is another glob's
			}
		}
	}
	slices.Sort(users)
	slices.Sort(dirs)
	return users, slices.Compact(dirs), true // two globs may name one directory
}
