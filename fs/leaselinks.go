package fs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// A file hard-linked into several users' trees is one node, made for
// whichever name the kernel looked up first, and so under that user's
// lease alone. Dovecot makes such files itself: it delivers one message
// to several recipients on one host by linking one file into each
// mailbox (maildir, and sdbox where it can). Once a director moves one
// of those users to another host, this host may no longer take the
// first user's lease, while it still serves the others and they read
// the file. So the mount remembers every user through whose directory
// the kernel reached a linked file, and a request on it needs the lease
// of any one of them: the kernel reached the file through a name
// beneath a user this host held at that lookup. A move of a linked file
// takes the leases of all its names' users, as before (leasemove.go).
//
// go-fuse picks the node of a second name only after the lookup's
// handler returned (it keeps the node it holds and drops the new one),
// so the users are kept by identity, not on the node, until the kernel
// forgets the node.

// linkedUsers are the users whose names reach each hard-linked file
// the kernel holds, by the file's identity; each record is pinned.
type linkedUsers struct {
	n  atomic.Int64 // files in m: a forget outside a cluster checks this alone
	mu sync.Mutex
	m  map[gofs.StableAttr][]*userLease
}

// add records that the kernel reaches file id through a name beneath
// user u (nil outside the per-user directories).
func (l *linkedUsers) add(id gofs.StableAttr, u *userLease) {
	if u == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.m[id] {
		if v.key == u.key {
			return
		}
	}
	if l.m == nil {
		l.m = map[gofs.StableAttr][]*userLease{}
	}
	if l.m[id] == nil {
		l.n.Add(1)
	}
	l.m[id] = append(l.m[id], u.s.pinLive(u))
}

// users returns the users that reach file id, first, a user of its
// node, among them; nil when no other user does.
// Every request whose user's lease is not fresh asks, so a mount with
// no linked file known (every mount outside a cluster) takes no lock.
func (l *linkedUsers) users(id gofs.StableAttr, first *userLease) []*userLease {
	if l.n.Load() == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var us []*userLease
	for _, v := range l.m[id] {
		if v.key != first.key {
			us = append(us, v)
		}
	}
	if us == nil {
		return nil
	}
	return append([]*userLease{first}, us...)
}

// drop forgets file id, whose node the kernel forgot.
func (l *linkedUsers) drop(id gofs.StableAttr) {
	if l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	us, ok := l.m[id]
	if ok {
		delete(l.m, id)
		l.n.Add(-1)
	}
	l.mu.Unlock()
	for _, u := range us {
		u.s.unpin(u)
	}
}

// sharedWith reports whether file id, whose node was made for a name of
// user first, is reached through a name of a user other than u too.
func (l *linkedUsers) sharedWith(id gofs.StableAttr, first, u *userLease) bool {
	if first != nil && first.key != u.key {
		return true
	}
	if l.n.Load() == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.m[id] {
		if v.key != u.key {
			return true
		}
	}
	return false
}

// anyLease makes sure this host holds the lease of one of us and
// returns it: one it holds already if any, else the first it can take,
// in order.
func anyLease(ctx context.Context, us []*userLease) (*userLease, syscall.Errno) {
	for _, u := range us {
		if u.s.now() < u.fresh.Load() {
			return u, 0
		}
	}
	for _, u := range us {
		if u.holds() && u.use(ctx) == 0 {
			return u, 0
		}
	}
	e := syscall.EIO
	for _, u := range us {
		if e = u.use(ctx); e == 0 {
			return u, 0
		}
	}
	return nil, e
}

// holds reports whether this host holds u's lease and may use it; not
// while another request is acquiring it, which may wait for lease_wait.
func (u *userLease) holds() bool {
	if !u.mu.TryLock() {
		return false
	}
	defer u.mu.Unlock()
	return u.valid(u.s.now())
}
