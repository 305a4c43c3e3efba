package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cacheHammerConfig turns the kernel's caches off, so that every stat
// reaches tierfs and is answered by its own metadata cache, and puts the
// names on two tiers, one of kind nfs (whose stats tierfs caches).
func cacheHammerConfig(cacheSize string) fsConfig {
	return fsConfig{
		Tiers: []tierSpec{
			{Name: "fast", Kind: "local"},
			{Name: "slow", Kind: "nfs"},
		},
		Rules: []ruleSpec{
			{"h/*.slow", "slow"},
			{"**", "fast"},
		},
		Extra: "[kernel]\nentry_timeout = \"0s\"\nattr_timeout = \"0s\"\nnegative_timeout = \"0s\"\n" +
			"[cache]\nsize = " + cacheSize + "\n",
	}
}

// The metadata cache never serves a stale answer: while one goroutine
// creates, grows, renames and unlinks names on two tiers, readers that
// look a name up after a change was published must see the change.
func TestCacheNeverStale(t *testing.T) {
	for _, size := range []string{`"64MiB"`, `0`} {
		t.Run("cache="+size, func(t *testing.T) { hammerCache(t, size) })
	}
}

func hammerCache(t *testing.T, cacheSize string) {
	fx := mountTierfs(t, cacheHammerConfig(cacheSize))
	dir := fx.mkdirAll(t, "h")
	const rounds = 400
	var published atomic.Int64 // the last round whose changes are complete
	published.Store(-1)
	var stale atomic.Int64
	var firstErr atomic.Pointer[string]
	report := func(format string, args ...any) {
		stale.Add(1)
		msg := fmt.Sprintf(format, args...)
		firstErr.CompareAndSwap(nil, &msg)
	}
	name := func(i int64) string {
		if i%2 == 0 {
			return filepath.Join(dir, fmt.Sprintf("n%d.slow", i))
		}
		return filepath.Join(dir, fmt.Sprintf("n%d", i))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := published.Load()
				if k < 0 {
					continue
				}
				var st unix.Stat_t
				// Round k created name(k) with k+1 bytes, renamed it over
				// "cur", and removed name(k-1): probe all three.
				unix.Lstat(name(k+1), &st) // a negative answer that must not outlive round k+1
				if err := unix.Lstat(filepath.Join(dir, "cur"), &st); err != nil {
					report("round %d: cur: %v", k, err)
				} else if st.Size < k+1 {
					report("round %d: cur has %d bytes, want at least %d", k, st.Size, k+1)
				}
				if err := unix.Lstat(name(k-1), &st); !errors.Is(err, unix.ENOENT) && published.Load() == k {
					report("round %d: %s still visible after unlink (err %v)", k, name(k-1), err)
				}
			}
		}()
	}
	for k := int64(0); k < rounds; k++ {
		data := make([]byte, k+1)
		if err := os.WriteFile(name(k), data, 0o644); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(name(k), &st); err != nil || st.Size != k+1 {
			t.Fatalf("round %d: fresh file: size %d, err %v", k, st.Size, err)
		}
		if err := os.Link(name(k), name(k)+".link"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name(k)+".link", filepath.Join(dir, "cur")); err != nil {
			t.Fatal(err)
		}
		if k > 0 {
			if err := os.Remove(name(k - 1)); err != nil {
				t.Fatal(err)
			}
		}
		published.Store(k)
		time.Sleep(200 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	if n := stale.Load(); n > 0 {
		t.Fatalf("%d stale answers; first: %s", n, *firstErr.Load())
	}
	// The hammer only proves something if the cache and the name
	// index answered.
	c := cacheStats(t, fx)
	if cacheSize != "0" && (c.Hits == 0 || c.Absent == 0) {
		t.Fatalf("the metadata cache answered %d lookups, the name index %d: the test exercised too little", c.Hits, c.Absent)
	}
	if cacheSize == "0" && c.Hits+c.Absent != 0 {
		t.Fatalf("cache turned off but %d hits, %d answered by the name index", c.Hits, c.Absent)
	}
}

// cacheCounts is the cache part of tierfs status --json.
type cacheCounts struct {
	Hits, Misses, Absent uint64
}

// cacheStats reports what the metadata cache and the name indexes
// answered so far (tierfs status).
func cacheStats(t *testing.T, fx *fixture) cacheCounts {
	t.Helper()
	out, err := fx.run("status", "--json", fx.mnt)
	if err != nil {
		t.Fatalf("tierfs status: %v\n%s", err, out)
	}
	var st []struct {
		Cache cacheCounts `json:"cache"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		t.Fatalf("tierfs status --json: %v\n%s", err, out)
	}
	c := st[0].Cache
	t.Logf("cache: %d hits, %d misses, %d answered by name indexes", c.Hits, c.Misses, c.Absent)
	return c
}

// A file on an nfs tier grows beside tierfs while it is open for writing
// (passthrough), so its cached stat must not answer a lookup then; once
// the writer has closed it, the cache may answer again.
func TestCachedStatNotServedWhileWriting(t *testing.T) {
	tests := []struct {
		name   string
		exists bool // the file is made empty before the open
		flags  int
	}{
		{"append", true, unix.O_WRONLY | unix.O_APPEND},
		{"rdwr", true, unix.O_RDWR},
		{"create", false, unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL},
	}
	// Every stat is a LOOKUP, whose answer the kernel then keeps: a
	// stale one would stand until the next.
	cfg := cacheHammerConfig(`"64MiB"`)
	cfg.Extra = "[kernel]\nentry_timeout = \"0s\"\nattr_timeout = \"60s\"\n[cache]\nsize = \"64MiB\"\n"
	fx := mountTierfs(t, cfg)
	dir := fx.mkdirAll(t, "h")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".slow")
			if tc.exists {
				mustWrite(t, p, "")
				lstat(t, p)
				lstat(t, p) // cached now
			}
			fd, err := unix.Open(p, tc.flags|unix.O_CLOEXEC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			mustWriteFd(t, fd, "a")
			if st := lstat(t, p); st.Size != 1 {
				t.Fatalf("size %d after the first write, want 1", st.Size)
			}
			mustWriteFd(t, fd, "bbbb")
			for i := range 3 {
				if st := lstat(t, p); st.Size != 5 {
					t.Fatalf("stat %d after the writer grew the file: size %d, want 5", i, st.Size)
				}
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil || st.Size != 5 {
				t.Fatalf("the writer's fstat: size %d (%v), want 5", st.Size, err)
			}
			if err := unix.Close(fd); err != nil {
				t.Fatal(err)
			}
			fx.requireOnTier(t, filepath.Join("h", tc.name+".slow"), "slow")
			lstat(t, p)
			before := cacheStats(t, fx).Hits
			if st := lstat(t, p); st.Size != 5 {
				t.Fatalf("size %d after close, want 5", st.Size)
			}
			if after := cacheStats(t, fx).Hits; after == before {
				t.Errorf("the cache answered no stat of the closed file: the test exercised nothing")
			}
		})
	}
}
