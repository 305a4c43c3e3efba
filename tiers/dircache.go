package tiers

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// dirCache keeps O_PATH descriptors of directories recently resolved
// beneath the tier root, so that an operation on a/b/c/name does not
// walk a, b and c again: the walk is most of a metadata call's cost on
// a local tier, and one round trip per component on NFS.
//
// A cached descriptor follows its directory, a path does not; the two
// part when a directory is renamed or removed. Every rename and rmdir of
// a tier goes through its Tier, which tells the cache afterwards; if the
// path touched a cached directory or one of its ancestors, the cache is
// emptied, so a create never lands in a directory that was renamed away
// or removed and made again. A generation, bumped by every rename and
// rmdir, makes a lookup that raced with one leave its result uncached:
// it may have resolved the directory just renamed away. What changes behind
// tierfs's back (an operator on the tier itself) is seen within
// dirCacheTTL, and a tier that goes down or comes back starts afresh.
// In a cluster other hosts change a shared tier all the time: there
// tierfs caches only what a lease it holds covers (SetDirCacheFilter)
// and forgets a user's directories when it lets the lease go
// (ForgetDirs).
//
// A hit also skips the backend's search-permission checks on the
// ancestors for a caller-identity call; the kernel has made them on the
// mount already (tierfs mounts with default_permissions whenever anyone
// but root may use it).
type dirCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]*cachedDir
	// under counts, for every cached path and each of its ancestors,
	// the cached paths at or below it: a rename or rmdir of a path with
	// no count cannot make an entry wrong.
	under map[string]int
	ttl   time.Duration // 0: dirCacheTTL
	// keep, if set, says which directories may be cached at all
	// (Tier.SetDirCacheFilter); set before the tier is used.
	keep func(dir string) bool

	hits, misses atomic.Uint64
}

// cachedDir is one descriptor; it is closed when the cache has dropped it
// and the last operation using it is done.
type cachedDir struct {
	fd      int
	refs    atomic.Int32 // operations using it, plus one while cached
	expires time.Time
}

const (
	dirCacheSize = 1024 // descriptors per tier
	dirCacheTTL  = time.Second
)

// release ends one use of d; nil (the tier root) is never released.
func (d *cachedDir) release() {
	if d != nil && d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// get returns the cached descriptor of dir, to be released by the caller,
// or nil and the generation to pass to add.
func (c *dirCache) get(dir string, now time.Time) (*cachedDir, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.entries[dir]; ok {
		if now.Before(d.expires) {
			d.refs.Add(1)
			c.hits.Add(1)
			return d, 0
		}
		c.remove(dir, d)
	}
	c.misses.Add(1)
	return nil, c.gen
}

// add wraps fd, just opened for dir, and caches it unless the cache was
// dropped since get returned gen. The caller releases the result.
func (c *dirCache) add(dir string, fd int, gen uint64, now time.Time) *cachedDir {
	d := &cachedDir{fd: fd}
	d.refs.Store(1)
	if c.keep != nil && !c.keep(dir) {
		return d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return d
	}
	if c.entries == nil {
		c.entries, c.under = map[string]*cachedDir{}, map[string]int{}
	}
	if len(c.entries) >= dirCacheSize {
		for k, old := range c.entries { // an arbitrary victim
			c.remove(k, old)
			break
		}
	}
	dir = strings.Clone(dir) // not the caller's longer path
	ttl := c.ttl
	if ttl == 0 {
		ttl = dirCacheTTL
	}
	d.expires = now.Add(ttl)
	d.refs.Add(1)
	c.entries[dir] = d
	forPrefixes(dir, func(p string) { c.under[p]++ })
	return d
}

// remove drops one entry; c.mu is held.
func (c *dirCache) remove(dir string, d *cachedDir) {
	delete(c.entries, dir)
	forPrefixes(dir, func(p string) {
		if c.under[p]--; c.under[p] <= 0 {
			delete(c.under, p)
		}
	})
	d.release()
}

// changed is called after paths were renamed or removed: if any of them
// is or holds a cached directory, everything is dropped. A lookup that
// missed before the change must not cache what it resolved even when
// nothing was cached, hence the new generation in any case.
func (c *dirCache) changed(paths ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, p := range paths {
		if c.under[p] > 0 {
			c.dropLocked()
			return
		}
	}
}

// drop empties the cache.
func (c *dirCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

func (c *dirCache) dropLocked() {
	c.gen++
	for k, d := range c.entries {
		c.remove(k, d)
	}
}

// SetDirCacheFilter makes the tier cache the descriptors of only the
// directories keep accepts. In a cluster another host may rename or
// remove a directory outside every per-user directory at any time,
// and a cached descriptor would follow it where its name does not.
// Call it before the tier is used.
func (t *Tier) SetDirCacheFilter(keep func(dir string) bool) { t.dirs.keep = keep }

// ForgetDirs drops the cached descriptors of dirs and of the
// directories beneath them (all of the cache, if any is cached): the
// caller learnt that another host may have renamed or removed them.
func (t *Tier) ForgetDirs(dirs ...string) { t.dirs.changed(dirs...) }

// DirCacheStats reports how often an operation found its directory in
// the tier's descriptor cache, and how often it had to walk the path.
func (t *Tier) DirCacheStats() (hits, misses uint64) {
	return t.dirs.hits.Load(), t.dirs.misses.Load()
}

// forPrefixes calls fn with each ancestor of the relative path dir
// ("a", "a/b", ...) and with dir itself.
func forPrefixes(dir string, fn func(string)) {
	for i := range len(dir) {
		if dir[i] == '/' {
			fn(dir[:i])
		}
	}
	fn(dir)
}
