package fs

import (
	"sync"
	"sync/atomic"
	"testing"
)

// A lookup that read the backend before an invalidation must not have its
// answer served after it, even when its Set lands late (ristretto applies
// Sets asynchronously and may keep an old value).
func TestLookupCacheLateSet(t *testing.T) {
	lc, err := newLookupCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	k := cacheKey(7, "dovecot-uidlist")
	gen := lc.begin(k) // a lookup starts: reads generation, then the backend
	lc.invalidate(7, "dovecot-uidlist")
	lc.put(k, gen, &cached{tier: 1}) // its answer arrives after the change
	lc.c.Wait()
	if c, ok := lc.get(k); ok {
		t.Fatalf("stale entry served: %+v", c)
	}
	gen = lc.begin(k)
	lc.put(k, gen, &cached{tier: 2})
	lc.c.Wait()
	if c, ok := lc.get(k); !ok || c.tier != 2 {
		t.Fatalf("fresh entry: %+v, %v; want tier 2", c, ok)
	}
}

// invalidate only bumps the generation (no ristretto Del, which would
// wake the cache's goroutine): the old entry stays stored but is never
// served again, at once and without waiting for the cache's buffers.
func TestLookupCacheInvalidateKeepsNoStaleEntry(t *testing.T) {
	lc, err := newLookupCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	k := cacheKey(9, "cur")
	lc.put(k, lc.begin(k), &cached{tier: 1})
	lc.c.Wait()
	if c, ok := lc.get(k); !ok || c.tier != 1 {
		t.Fatalf("entry before invalidation: %+v, %v; want tier 1", c, ok)
	}
	lc.invalidate(9, "cur")
	if _, stored := lc.c.Get(k); !stored {
		t.Fatal("ristretto no longer holds the entry: invalidate deleted it")
	}
	if c, ok := lc.get(k); ok {
		t.Fatalf("stale entry served right after invalidation: %+v", c)
	}
	lc.put(k, lc.begin(k), &cached{tier: 2})
	lc.c.Wait()
	if c, ok := lc.get(k); !ok || c.tier != 2 {
		t.Fatalf("entry after a new lookup: %+v, %v; want tier 2", c, ok)
	}
}

// Concurrent readers never see a value older than the last invalidation
// that completed before their read began.
func TestLookupCacheHammer(t *testing.T) {
	lc, err := newLookupCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	var version atomic.Int64 // the "backend": the tier a name is on
	var done atomic.Int64    // the last version whose invalidation completed
	k := cacheKey(1, "x")
	var stale atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := done.Load()
				if c, ok := lc.get(k); ok {
					if int64(c.tier) < floor {
						stale.Add(1)
					}
					continue
				}
				gen := lc.begin(k)
				v := version.Load()
				lc.put(k, gen, &cached{tier: int(v)})
			}
		}()
	}
	for i := 1; i <= 20000; i++ {
		version.Store(int64(i)) // change the backend, then invalidate
		lc.invalidate(1, "x")
		done.Store(int64(i))
	}
	close(stop)
	wg.Wait()
	if n := stale.Load(); n > 0 {
		t.Fatalf("%d stale reads", n)
	}
}
