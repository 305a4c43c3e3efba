package fs

import "sync"

// openFiles counts open handles by the inode number the mount shows.
// One file may have several nodes: a file moved to a tier that cannot
// keep its identity (NFS), or moved before generations were kept, gets a
// new generation, so a lookup after the kernel's entry expired makes a
// new node while descriptors opened before stay on the old one. The
// mover asks here, not the node it finds by name, whether a file is
// open. Files that share a number by accident (see Known limits) only
// make the mover wait.
type openFiles struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (o *openFiles) add(ino uint64, d int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[uint64]int{}
	}
	if o.n[ino] += d; o.n[ino] <= 0 {
		delete(o.n, ino)
	}
}

// open reports whether a file with inode number ino has an open handle.
func (o *openFiles) open(ino uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[ino] > 0
}

// addOpens counts d handles opened (or, negative, released) on n, for
// user u (the one whose lease the open was served under; nil outside
// the per-user directories): an open file keeps that lease.
func (n *node) addOpens(d int32, u *userLease) {
	n.opens.Add(d)
	n.r.openFiles.add(n.StableAttr().Ino, int(d))
	if u != nil {
		u.addOpens(int64(d))
	}
}
