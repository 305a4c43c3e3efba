package fs

import (
	"context"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/tiers"
)

// In a cluster, a name outside every per-user directory (a public
// folder, the directories above the users) has no lease: any host may
// change it at any time, and nothing tells the others. Such names are
// served as an NFS client serves them. The kernel keeps their entries
// and attributes for [cluster] shared_timeout only, and no negative
// entries. tierfs answers their lookups from the tiers alone, and
// learns the copies another host made of a shared directory before it
// lists or stats it.

// shared reports whether n lies outside every per-user directory of a
// cluster.
func (n *node) shared() bool { return n.r.leases != nil && n.user == nil }

// sharedChild reports whether child name of n is shared: n is, and the
// child is no per-user directory (whose lease covers it).
func (n *node) sharedChild(name string) bool {
	return n.shared() && !n.childIsUserDir(name)
}

// sharedEntry gives the kernel's entry of a shared name the shared
// timeouts.
func (r *Root) sharedEntry(out *fuse.EntryOut) {
	out.SetEntryTimeout(r.sharedTTL)
	out.SetAttrTimeout(r.sharedTTL)
}

// sharedTimeout is the kernel's timeout for a shared name: go-fuse
// reads 0 as "the mount's", so no caching at all is a nanosecond.
func sharedTimeout(d time.Duration) time.Duration { return max(d, time.Nanosecond) }

// lookupShared looks up child name (path p) of shared directory n.
func (n *node) lookupShared(ctx context.Context, name, p string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ch, e := n.lookupFresh(ctx, name, p, out)
	if e == 0 {
		n.r.sharedEntry(out)
	}
	return ch, e
}

// cacheableDir reports whether the shared tiers may keep a cached
// descriptor of dir (tiers.Tier.SetDirCacheFilter): one at or beneath
// a per-user directory, or tierfs's own (leases, journals), which no
// host renames. No lease tells this host when another renames or
// removes a shared directory.
func (s *leaseSet) cacheableDir(dir string) bool {
	if strings.HasPrefix(dir, reservedPrefix) {
		return true
	}
	_, _, ok := s.userKeyOf(dir)
	return ok
}

// forgetUserDirs drops the shared tiers' cached descriptors of u's
// directories and those beneath: once the lease is let go another host
// may rename or remove them, and a descriptor follows a directory where
// its name does not. The globs name most of them; the nodes know those
// found by a walk.
func (r *Root) forgetUserDirs(u *userLease) {
	dirs := append(r.leases.namedDirs(u.key), u.dirList()...)
	for _, t := range r.tiers {
		if t.Kind != tiers.KindTmpfs {
			t.ForgetDirs(dirs...)
		}
	}
}

// learnShared learns the copies of n, if shared, that another host made.
func (n *node) learnShared() {
	if n.shared() {
		n.learnCopies()
	}
}
