package fs

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sys/unix"
)

// lookupCache remembers what is expensive to learn again: which tier
// holds a name (or that none does), which tiers hold a directory, and
// the stat of files on nfs tiers. Keys are (parent inode, name).
//
// ristretto is lossy and asynchronous: a Set may be dropped, and a Set
// that raced an invalidation could land after it. Every entry therefore
// carries the generation of its key's slot read before the backend was
// asked; a mutation changes the backend, then bumps the generation, then
// deletes the key, so an entry from before the change is never served.
type lookupCache struct {
	c    *ristretto.Cache[string, *cached]
	gens []atomic.Uint64
	seed maphash.Seed

	hits, misses atomic.Uint64
}

// cached is what a lookup learned.
type cached struct {
	gen     uint64
	tier    int    // tier holding the name; -1 for "no tier holds it"
	dirs    uint64 // directories: tiers holding it
	hasStat bool   // st is valid (files on nfs tiers)
	fileGen uint64 // the copy's generation (birth time), to recognise it
	nodeGen uint64 // the generation the node carries (a directory's kept one: dirID)
	ino     uint64 // the inode number the mount shows (Root.fileID)
	st      unix.Stat_t
}

// The cache's heap use, measured by TestLookupCacheHeapWithinBudget, is
// what newLookupCache divides its budget by, so that a full cache stays
// within it: the configured [cache] size bounds resident memory, not an
// entry count.
const (
	// entryBytes bounds the heap an entry takes beside its key's bytes:
	// the cached struct, ristretto's store item, map slots and policy
	// record, and the key's string header. Go's maps grow by doubling,
	// so an entry costs most just after a map has grown; this is that
	// cost with a margin.
	entryBytes = 400
	// countersPerEntry is ristretto's advice: ten admission counters
	// for every entry the cache can hold when full. Their number is
	// rounded down to a power of two, which keeps five to ten.
	countersPerEntry = 10
	// counterBytes is the heap of one counter when their number is a
	// power of two (ristretto rounds it up to one): 2 bytes of count-min
	// sketch (four rows of 4-bit counters) and 2 of doorkeeper bloom
	// filter (about 10 bits for 1% false positives, rounded up alike).
	counterBytes = 4
	// fixedBytes is the rest: ristretto's buffers and store shards.
	fixedBytes = 512 << 10
	// typicalKey sizes the counters: a maildir name and its parent.
	typicalKey = 64
	// slotBytes is one generation slot (see lookupCache.slot).
	slotBytes = 8
	// minEntries is the smallest cache worth keeping; below it the
	// fixed part would be most of the budget.
	minEntries = 1000
)

// newLookupCache returns a cache whose heap stays within budget bytes,
// or nil (no cache) for a budget too small to hold minEntries.
func newLookupCache(budget int64) (*lookupCache, error) {
	entries := (budget - fixedBytes) / (entryBytes + typicalKey + countersPerEntry*counterBytes + slotBytes)
	if entries < minEntries {
		return nil, nil
	}
	counters := nextPow2(entries*countersPerEntry) / 2 // five to ten an entry
	slots := min(max(nextPow2(entries), 1<<10), 1<<16) // collisions only cost misses
	c, err := ristretto.NewCache(&ristretto.Config[string, *cached]{
		NumCounters:        counters,
		MaxCost:            budget - fixedBytes - counters*counterBytes - slots*slotBytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // entryBytes includes it
	})
	if err != nil {
		return nil, err
	}
	return &lookupCache{c: c, gens: make([]atomic.Uint64, slots), seed: maphash.MakeSeed()}, nil
}

// nextPow2 is the least power of two not below n (n > 0).
func nextPow2(n int64) int64 {
	return 1 << bits.Len64(uint64(n-1))
}

func cacheKey(parent uint64, name string) string {
	b := make([]byte, 8, 8+len(name))
	binary.LittleEndian.PutUint64(b, parent)
	return string(append(b, name...))
}

// userCacheKey is cacheKey beneath a per-user directory (u non-nil):
// it carries the user's epoch, which a release or a hostchange bumps,
// so entries of before are never served again. The NUL after the epoch
// keeps it apart from every plain key (names have no NUL).
func userCacheKey(u *userLease, parent uint64, name string) string {
	if u == nil {
		return cacheKey(parent, name)
	}
	b := make([]byte, 17, 17+len(name))
	binary.LittleEndian.PutUint64(b, parent)
	binary.LittleEndian.PutUint64(b[8:], u.cacheEpoch())
	return string(append(b, name...))
}

func (lc *lookupCache) slot(k string) *atomic.Uint64 {
	return &lc.gens[maphash.String(lc.seed, k)&uint64(len(lc.gens)-1)]
}

// begin returns the generation to store with what the caller is about
// to read from the backend.
func (lc *lookupCache) begin(k string) uint64 {
	if lc == nil {
		return 0
	}
	return lc.slot(k).Load()
}

// get returns a current entry for k.
func (lc *lookupCache) get(k string) (*cached, bool) {
	if lc == nil {
		return nil, false
	}
	e, ok := lc.c.Get(k)
	if ok && e.gen == lc.slot(k).Load() {
		lc.hits.Add(1)
		return e, true
	}
	lc.misses.Add(1)
	return nil, false
}

// put stores what was read under generation gen.
func (lc *lookupCache) put(k string, gen uint64, e *cached) {
	if lc == nil {
		return
	}
	e.gen = gen
	lc.c.Set(k, e, int64(len(k))+entryBytes)
}

// invalidate forgets (parent, name) after the backend changed. Bumping
// the generation is enough: get never serves an entry of an older
// generation, and the next put for the key replaces it. A ristretto Del
// would also queue the deletion on the cache's channel and wake its
// goroutine, a thread wake-up inside the request that changed the name.
func (lc *lookupCache) invalidate(parent uint64, name string) {
	if lc == nil {
		return
	}
	lc.slot(cacheKey(parent, name)).Add(1)
}

// invalidateKey is invalidate by key.
func (lc *lookupCache) invalidateKey(k string) {
	if lc == nil {
		return
	}
	lc.slot(k).Add(1)
}

// invalidateAll forgets everything (a tier changed health).
func (lc *lookupCache) invalidateAll() {
	if lc == nil {
		return
	}
	for i := range lc.gens {
		lc.gens[i].Add(1)
	}
	lc.c.Clear()
}

func (lc *lookupCache) stats() CacheStats {
	if lc == nil {
		return CacheStats{}
	}
	return CacheStats{Hits: lc.hits.Load(), Misses: lc.misses.Load()}
}

func (lc *lookupCache) close() {
	if lc != nil {
		lc.c.Close()
	}
}
