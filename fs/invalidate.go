package fs

import (
	"golang.org/x/sys/unix"
)

// forget drops the cached lookup of child name of directory n, and
// tells its name index that name may exist now. Callers change the
// backend first, then forget.
func (n *node) forget(name string) {
	n.r.cache.invalidateKey(n.cacheKey(name))
	n.nameChanged(name)
}

// forgetGone is forget for a name that no copy of n holds any more.
func (n *node) forgetGone(name string) {
	n.r.cache.invalidateKey(n.cacheKey(name))
	n.nameGone(name)
}

// forgetSelf drops the cached lookup of n under its parent. Without a
// cache (no nfs tier) there is nothing to drop, and finding the parent
// would cost a lock on every release of a written file.
func (n *node) forgetSelf() {
	if n.r.cache == nil {
		return
	}
	if name, parent := n.Parent(); parent != nil {
		if pn, ok := parent.Operations().(*node); ok {
			pn.forget(name)
		}
	}
}

// forgetPath drops the cached lookup of path p, whether or not the
// kernel still knows its directory (the mover works by path).
func (r *Root) forgetPath(p string) {
	if r.cache == nil {
		return // nothing cached, and no backend stats to learn the key
	}
	dir, base := splitPath(p)
	if dn := r.knownNode(dir); dn != nil {
		dn.forget(base)
		return
	}
	var st unix.Stat_t
	for _, ti := range r.placement().Order(dir) {
		if r.tiers[ti].Lstat(dir, &st) == nil {
			sino, _ := r.fileID(ti, dir, &st, 0)
			u := r.pathUser(dir)
			r.cache.invalidateKey(userCacheKey(u, sino, base))
			if u != nil {
				u.s.unpin(u)
			}
			return
		}
	}
}

// cacheKey is the lookup cache's key of child name of n.
func (n *node) cacheKey(name string) string {
	return userCacheKey(n.user, n.StableAttr().Ino, name)
}

// pathUser is the lease of the user whose directory p is or lies
// beneath, pinned (the caller unpins it); nil outside a cluster and
// outside them.
func (r *Root) pathUser(p string) *userLease {
	if r.leases == nil {
		return nil
	}
	u, _ := r.leases.userOf(p)
	return u
}
