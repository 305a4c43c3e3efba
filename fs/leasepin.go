package fs

import (
	"context"
	"syscall"
)

// Pinning keeps a user's record alive while anything points at it, and
// frees it once nothing does and it has nothing to keep (see leaseSet).
// pins is atomic so that a node made beneath a user's directory pins
// its parent's record without s.mu; free, under s.mu, marks the record
// gone before it checks pins and opens once more, and pinLive and
// addUserOpens add before they check gone, so that of a racing pin and
// free one always sees the other.

// pinLive pins the live record of u's user: u itself unless it was
// freed, else the user's current one (made if need be), which then
// learns u's directories so that its release drops their kernel
// entries.
func (s *leaseSet) pinLive(u *userLease) *userLease {
	u.pins.Add(1)
	if !u.gone.Load() {
		return u
	}
	if u.pins.Add(-1) == 0 {
		s.markLoose(u) // a free that saw this pin let u be
	}
	v := s.get(u.key)
	if v != u {
		for _, d := range u.dirList() {
			v.addDir(d)
		}
	}
	return v
}

// unpin drops one pin of u; the last one frees u if it is free.
func (s *leaseSet) unpin(u *userLease) {
	if u.pins.Add(-1) != 0 {
		return
	}
	if !u.mu.TryLock() {
		s.markLoose(u) // whoever holds mu acquires, releases or sweeps u
		return
	}
	s.free(u)
	u.mu.Unlock()
}

// markLoose leaves u, unpinned, for the worker to free.
func (s *leaseSet) markLoose(u *userLease) {
	s.mu.Lock()
	if s.users[u.key] == u {
		s.loose[u.key] = u
		s.peak[2] = max(s.peak[2], len(s.loose))
	}
	s.mu.Unlock()
}

// free removes u from the records if nothing pins it, its lease is
// free and not among the held users, no hostchange of it failed, and
// nothing beneath it is open. What it loses is harmless: its epoch
// (the next record's is new) and its directories (no node is left to
// drop). A refusal logged less than refusalLogEvery ago keeps it, so
// that the log's rate limit holds; the worker frees it later. Called
// with u.mu held.
func (s *leaseSet) free(u *userLease) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loose[u.key] == u {
		delete(s.loose, u.key) // whatever keeps it now frees it later
	}
	if !u.freeable() || s.held[u.key] == u || s.users[u.key] != u {
		return false
	}
	if u.logged != 0 && s.now()-u.logged < int64(refusalLogEvery) {
		s.loose[u.key] = u
		s.peak[2] = max(s.peak[2], len(s.loose))
		return false
	}
	u.gone.Store(true)
	if u.pins.Load() != 0 || u.opens.Load() != 0 {
		u.gone.Store(false) // a pin or an open raced in: it keeps u
		return false
	}
	delete(s.users, u.key)
	u.fresh.Store(0)
	return true
}

// freeable reports whether u holds nothing that must be kept. Called
// with u.mu held.
func (u *userLease) freeable() bool {
	return u.pins.Load() == 0 && u.state == leaseFree && u.undropped == "" && u.opens.Load() == 0
}

// freeLoose tries again to free the records whose last unpin found
// them busy.
func (s *leaseSet) freeLoose() {
	s.mu.Lock()
	us := make([]*userLease, 0, len(s.loose))
	for _, u := range s.loose {
		us = append(us, u)
	}
	s.mu.Unlock()
	for _, u := range us {
		if u.mu.TryLock() {
			s.free(u)
			u.mu.Unlock()
		}
	}
}

// known is the number of records in use.
func (s *leaseSet) known() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// forward serves a request that reached a freed record (through a node
// the kernel revived after it was forgotten) with the user's live one.
func (u *userLease) forward(ctx context.Context) syscall.Errno {
	v := u.s.pinLive(u)
	defer u.s.unpin(v)
	return v.use(ctx)
}

// cacheEpoch is u's epoch for cache keys. A freed record's keys are new
// each time: its user's live record may have dropped the user's
// caches since, which the freed record's epoch would not show.
func (u *userLease) cacheEpoch() uint64 {
	if u.gone.Load() {
		return u.s.epochs.Add(1)
	}
	return u.epoch.Load()
}

// unpinUser drops the pin n holds on its user's record, once: when the
// kernel forgot n, or when go-fuse never took it.
func (n *node) unpinUser() {
	for {
		st := n.state.Load()
		if st&stUserPin == 0 {
			return
		}
		if n.state.CompareAndSwap(st, st&^stUserPin) {
			n.r.leases.unpin(n.user)
			return
		}
	}
}

// shrinkMaps makes a map anew once it holds under a quarter of its
// peak: Go never shrinks a map, so the buckets a burst of a million
// users grew would stay. The copy, under s.mu, costs about as much as
// the frees since the last one.
func (s *leaseSet) shrinkMaps() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = shrunk(s.users, &s.peak[0])
	s.held = shrunk(s.held, &s.peak[1])
	s.loose = shrunk(s.loose, &s.peak[2])
}

// shrinkFrom is the peak below which a map is not made anew.
const shrinkFrom = 1024

func shrunk(m map[userKey]*userLease, peak *int) map[userKey]*userLease {
	if *peak < shrinkFrom || len(m) >= *peak/4 {
		return m
	}
	*peak = len(m)
	n := make(map[userKey]*userLease, len(m))
	for k, u := range m {
		n[k] = u
	}
	return n
}
