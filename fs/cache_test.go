package fs

import (
	"fmt"
	"runtime"
	"strconv"
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

// A full cache stays within the heap budget it was given, and uses most
// of it: [cache] size bounds the daemon's memory only if the cache's
// accounting matches what its entries really cost (README, Memory).
func TestLookupCacheHeapWithinBudget(t *testing.T) {
	for _, budget := range []int64{1 << 20, 3 << 20, 6 << 20, 8 << 20, 12 << 20, 20 << 20} {
		t.Run(strconv.FormatInt(budget>>20, 10)+"MiB", func(t *testing.T) {
			before := liveHeap()
			lc, err := newLookupCache(budget)
			if err != nil {
				t.Fatal(err)
			}
			defer lc.close()
			// Three times what fits, named as maildir names are.
			n := int(3 * budget / (entryBytes + typicalKey))
			for i := range n {
				name := fmt.Sprintf("17333%05d.M%dP%d.mail.example.org,S=%d,W=%d:2,S", i, i*7, i%9973, 4000+i%5000, 4100+i%5000)
				k := cacheKey(uint64(i%64), name)
				lc.put(k, lc.begin(k), &cached{tier: 1, hasStat: true})
				if i%256 == 0 {
					lc.c.Wait() // as a daemon's lookups pace themselves
				}
			}
			lc.c.Wait()
			used := int64(liveHeap()) - int64(before)
			t.Logf("budget %d bytes: heap %d bytes (%.2f of budget)", budget, used, float64(used)/float64(budget))
			if used > budget {
				t.Errorf("a full cache takes %d bytes of heap, over its budget of %d", used, budget)
			}
			if used < budget*6/10 {
				t.Errorf("a full cache takes %d bytes of heap, under 60%% of its budget of %d: the accounting wastes it", used, budget)
			}
		})
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
