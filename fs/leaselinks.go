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
	m  map[gofs.StableAttr]*linkedFile
}

// linkedFile is what reaches one linked file.
type linkedFile struct {
	users []*userLease
	// shared: a name outside every per-user directory reaches it (a
	// message Dovecot copied between a public folder and a user's
	// mailbox with a link). Such a name needs no lease, and neither
	// does the file then.
	shared bool
}

// add records that the kernel reaches file id through a name beneath
// user u, or through a shared name if u is nil.
func (l *linkedUsers) add(id gofs.StableAttr, u *userLease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[id]
	if f == nil {
		if l.m == nil {
			l.m = map[gofs.StableAttr]*linkedFile{}
		}
		f = &linkedFile{}
		l.m[id] = f
		l.n.Add(1)
	}
	if u == nil {
		f.shared = true
		return
	}
	for _, v := range f.users {
		if v.key == u.key {
			return
		}
	}
	f.users = append(f.users, u.s.pinLive(u))
}

// reachLinked records, in a cluster, that the kernel reaches linked
// file id through a child of n.
func (n *node) reachLinked(id gofs.StableAttr) {
	if n.r.leases != nil {
		n.r.linked.add(id, n.user)
	}
}

// users returns the users that reach file id, first, a user of its
// node, among them; nil when no other user does. shared reports that a
// shared name reaches it.
// Every request whose user's lease is not fresh asks, so a mount with
// no linked file known (every mount outside a cluster) takes no lock.
func (l *linkedUsers) users(id gofs.StableAttr, first *userLease) (us []*userLease, shared bool) {
	if l.n.Load() == 0 {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[id]
	if f == nil {
		return nil, false
	}
	for _, v := range f.users {
		if v.key != first.key {
			us = append(us, v)
		}
	}
	if us == nil {
		return nil, f.shared
	}
	return append([]*userLease{first}, us...), f.shared
}

// drop forgets file id, whose node the kernel forgot.
func (l *linkedUsers) drop(id gofs.StableAttr) {
	if l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	f, ok := l.m[id]
	if ok {
		delete(l.m, id)
		l.n.Add(-1)
	}
	l.mu.Unlock()
	if f != nil {
		for _, u := range f.users {
			u.s.unpin(u)
		}
	}
}

// sharedWith reports whether file id, whose node was made for a name of
// user first (nil: a shared name), is reached through a name other than
// u's too.
func (l *linkedUsers) sharedWith(id gofs.StableAttr, first, u *userLease) bool {
	if first == nil || first.key != u.key {
		return true
	}
	if l.n.Load() == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[id]
	if f == nil {
		return false
	}
	if f.shared {
		return true
	}
	for _, v := range f.users {
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
