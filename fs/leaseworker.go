package fs

import (
	"context"
	"time"
)

// The states of a userLease (userLease.state, under its mu).
const (
	leaseFree      = iota // this host does not hold it
	leaseHeld             // held and served
	leaseReleasing        // idle: the worker drops the caches, then releases it
)

// run releases idle leases and drops the leases lost when the
// heartbeat lapsed, until ctx ends. It is the only place that asks the
// kernel to drop a user's entries: a FUSE handler must not (the kernel
// may hold the directory lock the notification needs).
func (s *leaseSet) run(ctx context.Context) {
	every := min(max(s.after/4, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.sweep(ctx)
		}
	}
}

// sweep looks once at each lease acquired since the last sweep that
// found it free.
func (s *leaseSet) sweep(ctx context.Context) {
	lapsed, epoch := s.now() >= s.stamp(s.l.Valid()), s.l.Epoch()
	for _, u := range s.heldUsers() {
		if u.fresh.Load() == 0 {
			s.forgetFree(u) // not held (the sweep itself is what releases)
			continue
		}
		if !s.dropLost(u, lapsed, epoch) && u.idle() {
			s.releaseIdle(ctx, u)
		}
	}
	s.freeLoose()
	s.shrinkMaps()
}

// forgetFree drops u from the held users if it is free; one being
// acquired or released now is looked at again by the next sweep.
func (s *leaseSet) forgetFree(u *userLease) {
	if !u.mu.TryLock() {
		return
	}
	if u.state == leaseFree {
		s.untrack(u)
		s.free(u) // unless something still pins it
	}
	u.mu.Unlock()
}

// idle reports whether u is held with nothing open beneath it and no
// request for ReleaseAfter. A request only passes the hot path until
// fresh, at most a slice after its user's last stamp, so no request can
// be served on the strength of an old check once u is idle.
func (u *userLease) idle() bool {
	return u.fresh.Load() != 0 && u.opens.Load() == 0 && u.s.now()-u.last.Load() >= int64(u.s.after)
}

// releaseIdle releases u's lease: marked releasing (a request arriving
// now takes it back), the kernel's and tierfs's cached entries beneath
// the user's directories dropped, then released, so that the next
// request for the user comes to tierfs and acquires again.
func (s *leaseSet) releaseIdle(ctx context.Context, u *userLease) {
	if !s.beginRelease(u) {
		return
	}
	s.r.dropUserCaches(u)
	s.r.dropUserKernel(u)
	s.endRelease(ctx, u)
}

// beginRelease marks u, held and idle, releasing; false if it is not.
func (s *leaseSet) beginRelease(u *userLease) bool {
	if !u.mu.TryLock() {
		return false // being acquired: not idle; the next sweep looks again
	}
	defer u.mu.Unlock()
	if u.state != leaseHeld || !u.idle() {
		return false
	}
	u.state = leaseReleasing
	u.fresh.Store(0)
	return true
}

// endRelease releases u unless a request or a hold called it off.
func (s *leaseSet) endRelease(ctx context.Context, u *userLease) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state == leaseReleasing {
		u.release(ctx)
	}
}

// dropLost forgets a lease the lapsed heartbeat made invalid (lapsed,
// or a heartbeat since renewed validity in a new epoch): other hosts
// may take it, so nothing the kernel or tierfs cached beneath the
// user's directories may be served any more. The next request asks for
// the lease again. It reports whether it dropped u.
func (s *leaseSet) dropLost(u *userLease, lapsed bool, epoch uint64) bool {
	if !u.mu.TryLock() {
		return false // being acquired, which checks validity itself; the next sweep looks again
	}
	if u.state == leaseFree || !lapsed && u.epoch0 == epoch {
		u.mu.Unlock()
		return false
	}
	u.state = leaseFree
	u.fresh.Store(0)
	u.mu.Unlock()
	s.counts.lost.Add(1)
	s.logger().Error("cluster: this host's heartbeat lapsed; the user's lease is lost",
		"hash", u.key.hash, "user", u.key.user)
	s.r.dropUserCaches(u)
	s.r.dropUserKernel(u)
	return true
}

// dropUserCaches makes tierfs forget what it cached beneath u's
// directories: lookups (their keys carry u's epoch), name indexes, and
// the names of files linked into other users' trees too (dropUserTree).
func (r *Root) dropUserCaches(u *userLease) {
	u.epoch.Store(r.leases.epochs.Add(1))
	r.forgetUserDirs(u)
	for _, d := range u.dirList() {
		if dn := r.knownNode(d); dn != nil {
			r.dropUserTree(dn, u)
		}
	}
}

// dropUserTree drops the name indexes of dn and the directories below,
// and takes the files there that are linked into other users' trees too
// out of go-fuse's tree. Such a node lives on under the other users'
// names, and go-fuse makes a node's path from any one of its names:
// once another host renamed or removed u's name, the node's requests
// would go to a name that is gone (ENOENT where the file is). A later
// lookup of the name attaches it again.
func (r *Root) dropUserTree(dn *node, u *userLease) {
	dn.dropNameIndex()
	for name, ch := range dn.Children() {
		cn, ok := ch.Operations().(*node)
		switch {
		case !ok:
		case ch.IsDir():
			r.dropUserTree(cn, u)
		case r.linked.sharedWith(ch.StableAttr(), cn.user, u):
			dn.RmChild(name)
		}
	}
}

// dropUserKernel asks the kernel to drop its entries of u's
// directories, and so of everything beneath them. Never from a FUSE
// handler.
func (r *Root) dropUserKernel(u *userLease) {
	for _, d := range u.dirList() {
		dir, name := splitPath(d)
		if pn := r.knownNode(dir); pn != nil && pn.GetChild(name) != nil {
			r.notifyEntry(pn.EmbeddedInode(), name)
		}
	}
}
