package fs

import (
	"context"
	"path"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// missing reports errors that mean "not on this tier".
func missing(err error) bool { return err == unix.ENOENT || err == unix.ENOTDIR }

// find returns the tier that holds p (a child of n) and its stat. It
// asks only the tiers holding n, in p's rule order, so the expected tier
// answers first and a name on two tiers resolves to the one with
// priority. A tier that might hold p but cannot answer makes the result
// EIO, never ENOENT.
func (n *node) find(p string, st *unix.Stat_t) (int, uint64, syscall.Errno) {
	mask := n.dirs.Load()
	moving := n.r.moves.source(p)
	if moving >= 0 && mask&bit(moving) != 0 {
		gen, err := n.r.tiers[moving].LstatGen(p, st)
		if err == nil {
			return moving, gen, 0
		}
		if !missing(err) {
			return -1, 0, errno(err)
		}
	}
	for _, ti := range n.r.placement().Order(p) {
		if mask&bit(ti) == 0 || ti == moving {
			continue
		}
		gen, err := n.r.tiers[ti].LstatGen(p, st)
		if err == nil {
			return ti, gen, 0
		}
		if !missing(err) && !n.knownAbsent(p, ti) {
			return -1, 0, errno(err)
		}
	}
	return -1, 0, n.confirmMissing(p)
}

// confirmMissing answers ENOENT for p, a child of n, only if every tier
// holding n is still attached: a lazily unmounted tier keeps answering
// through its root descriptor, and its "no such file" must become EIO.
func (n *node) confirmMissing(p string) syscall.Errno {
	mask := n.dirs.Load()
	for ti, t := range n.r.tiers {
		if mask&bit(ti) != 0 && !n.r.downForeign(p, ti) && t.Attached() != nil {
			return syscall.EIO
		}
	}
	return syscall.ENOENT
}

// knownCopies returns the tiers holding directory name as n's child
// node already knows them; ok is false without such a node. tierfs
// makes every directory copy itself and records it in the node, so for
// a tier that is down the node tells whether it holds a copy: a
// directory with none there stays usable (a tmpfs tier lost takes no
// mail directory with it), one with a copy there fails its listing.
func (n *node) knownCopies(name string) (uint64, bool) {
	in := n.GetChild(name)
	if in == nil || !in.IsDir() {
		return 0, false
	}
	ch, ok := in.Operations().(*node)
	if !ok {
		return 0, false
	}
	return ch.dirs.Load(), true
}

// knownAbsent reports whether tier ti, down, is known not to hold p, a
// child of n: it holds other buckets than p's, or p is a directory whose
// node knows its copies.
func (n *node) knownAbsent(p string, ti int) bool {
	if n.r.downForeign(p, ti) {
		return true
	}
	known, ok := n.knownCopies(path.Base(p))
	return ok && known&bit(ti) == 0 && !n.r.tiers[ti].Up()
}

// knownHas reports whether directory name, a child of n, is known to
// have a copy on tier ti.
func (n *node) knownHas(name string, ti int) bool {
	known, ok := n.knownCopies(name)
	return ok && known&bit(ti) != 0
}

// dirCopies stats directory p on the tiers in candidates other than
// first (which holds it), folding their times into st, and returns the
// mask of tiers holding it.
func (n *node) dirCopies(p string, first int, candidates uint64, st *unix.Stat_t) (uint64, syscall.Errno) {
	mask := bit(first)
	for ti, t := range n.r.tiers {
		if ti == first || candidates&bit(ti) == 0 {
			continue
		}
		var s unix.Stat_t
		err := t.Lstat(p, &s)
		if missing(err) {
			continue
		}
		if err != nil && n.knownAbsent(p, ti) {
			continue
		}
		if err != nil && (n.r.assumeCopy(p, ti) || !t.Up() && n.knownHas(path.Base(p), ti)) {
			mask |= bit(ti) // a known copy keeps its listing failing
			continue
		}
		if err != nil {
			return 0, errno(err)
		}
		if s.Mode&unix.S_IFMT == unix.S_IFDIR {
			mask |= bit(ti)
			mergeDirStat(st, &s)
		}
	}
	return mask, 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.ENOENT
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	if cu := n.childUser(name); cu != nil {
		defer cu.s.unpin(cu)
		return n.lookupUserDir(ctx, cu, name, p, out)
	}
	if n.shared() {
		return n.lookupShared(ctx, name, p, out)
	}
	if e := n.leased(ctx); e != 0 {
		return nil, e
	}
	n.touch()
	n.r.moves.wait(p)
	n.names.RLock()
	defer n.names.RUnlock()
	lc := n.lookupCache() // nil-safe: nil where lookups are not cached
	var k string
	if lc != nil {
		k = n.cacheKey(name)
		if c, ok := lc.get(k); ok {
			if ch, e, done := n.lookupCached(ctx, name, p, c, out); done {
				return ch, e
			}
		}
	}
	if n.absent(name) {
		return nil, n.confirmMissing(p)
	}
	cacheGen := lc.begin(k)
	var st unix.Stat_t
	ti, gen, e := n.find(p, &st)
	if e == syscall.ENOENT {
		lc.put(k, cacheGen, &cached{tier: -1})
		n.nameMissed()
	}
	if e != 0 {
		return nil, e
	}
	var dirs uint64
	c := &cached{tier: ti, fileGen: gen, nodeGen: gen}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if dirs, e = n.dirCopies(p, ti, n.dirs.Load(), &st); e != 0 {
			return nil, e
		}
		c.dirs = dirs
		c.ino, c.nodeGen = n.r.dirID(ti, p, &st, gen)
	} else {
		c.ino, c.nodeGen = n.r.fileID(ti, p, &st, gen)
	}
	if n.r.tiers[ti].Kind == tiers.KindNFS && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1 && !n.childWriting(name) {
		c.hasStat, c.st = true, st
	}
	lc.put(k, cacheGen, c)
	return n.entry(ctx, name, ti, &st, c.ino, c.nodeGen, dirs, out), 0
}

// entry returns the child node for a lookup and fills its attributes,
// without the kept link of a known node that had another name replaced.
func (n *node) entry(ctx context.Context, name string, ti int, st *unix.Stat_t, sino, gen, dirs uint64, out *fuse.EntryOut) *gofs.Inode {
	fillAttr(&out.Attr, st)
	ch := n.newChild(ctx, name, ti, st, sino, gen, dirs)
	if cn, ok := ch.Operations().(*node); ok {
		cn.hideKeptNew(&out.Attr, 1) // name itself is one
	}
	return ch
}

// lookupCache returns the metadata cache for lookups in n, or nil where
// they do not go through it. They do only where a miss is expensive,
// that is where n is on a tier of kind nfs (every backend call a network
// round trip), and never where another host may change n (shared.go).
// On local tiers a miss costs a few system calls (an lstat, and an xattr
// read for the inode number on tiers that receive moved files), less
// than a new entry costs: ristretto hands every Set to its goroutine, a thread wake-up
// inside the request (measured with benchmarks/cmd/fuselat on the
// Dovecot workload: LOOKUP service time 63 µs with the cache on local
// tiers, 39 µs without).
func (n *node) lookupCache() *lookupCache {
	if n.dirs.Load()&n.r.cacheTiers == 0 || n.shared() {
		return nil
	}
	return n.r.cache
}

// lookupCached answers a lookup from the cache when it can; done is
// false when the backend must be asked after all. A cached stat is not
// served while the file is open for writing: a writer counts itself
// before it forgets the cached entry, so an entry stored before the
// writer came is refused by its generation, and one stored since, here.
func (n *node) lookupCached(ctx context.Context, name, p string, c *cached, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno, bool) {
	if c.tier < 0 {
		return nil, n.confirmMissing(p), true // EIO if a tier that might hold it is gone
	}
	st := c.st
	if !c.hasStat || n.childWriting(name) {
		gen, err := n.r.tiers[c.tier].LstatGen(p, &st)
		if err != nil || gen != c.fileGen {
			return nil, 0, false // another file now: its inode number may differ
		}
		if c.dirs != 0 {
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return nil, 0, false
			}
			if _, e := n.dirCopies(p, c.tier, c.dirs, &st); e != 0 {
				return nil, e, true
			}
		}
	}
	return n.entry(ctx, name, c.tier, &st, c.ino, c.nodeGen, c.dirs, out), 0, true
}

// childWriting reports whether n's child name is open for writing.
func (n *node) childWriting(name string) bool {
	ch := n.GetChild(name)
	if ch == nil {
		return false
	}
	cn, ok := ch.Operations().(*node)
	return ok && cn.writers.Load() > 0
}

// lookupUserDir looks up a per-user directory (mail/ab/alice) after
// taking its user's lease. Another host may have made or removed it.
func (n *node) lookupUserDir(ctx context.Context, u *userLease, name, p string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if e := u.use(ctx); e != 0 {
		return nil, e
	}
	return n.lookupFresh(ctx, name, p, out)
}

// lookupFresh looks up child name (path p) of n, a directory another
// host may change: neither tierfs's caches nor the kernel's negative
// entries answer it, and n's copies are learnt anew first. A miss is
// answered with a timeout, which makes go-fuse pass ENOENT on instead
// of a cacheable negative entry.
func (n *node) lookupFresh(ctx context.Context, name, p string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	n.touch()
	n.r.moves.wait(p)
	n.names.RLock()
	defer n.names.RUnlock()
	n.learnCopies()
	var st unix.Stat_t
	ti, gen, e := n.find(p, &st)
	if e == syscall.ENOENT {
		out.SetEntryTimeout(time.Nanosecond)
	}
	if e != 0 {
		return nil, e
	}
	var dirs uint64
	sino, nodeGen := uint64(0), uint64(0)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if dirs, e = n.dirCopies(p, ti, n.dirs.Load()|n.r.upTiers(), &st); e != 0 {
			return nil, e
		}
		sino, nodeGen = n.r.dirID(ti, p, &st, gen)
	} else {
		sino, nodeGen = n.r.fileID(ti, p, &st, gen)
	}
	return n.entry(ctx, name, ti, &st, sino, nodeGen, dirs, out), 0
}

// learnCopies adds to n's tiers the copies of n that other hosts made
// on tiers it did not know: above the per-user directories the tree is
// shared. Only where a per-user directory is looked up, which is rare
// (a lease taken, an entry expired).
func (n *node) learnCopies() {
	if p, e := n.relPath(); e == 0 {
		n.learnCopiesAt(p)
	}
}

// learnCopiesAt is learnCopies for n at path p.
func (n *node) learnCopiesAt(p string) {
	mask := n.dirs.Load()
	for ti, t := range n.r.tiers {
		var st unix.Stat_t
		if mask&bit(ti) != 0 || !t.Up() || t.Lstat(p, &st) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			n.dirs.Or(bit(ti))
		}
	}
}

// upTiers is the mask of the tiers up now.
func (r *Root) upTiers() uint64 {
	var m uint64
	for ti, t := range r.tiers {
		if t.Up() {
			m |= bit(ti)
		}
	}
	return m
}
