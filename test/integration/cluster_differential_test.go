package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// TestClusterDifferential runs the differential test's operations on two
// hosts of a cluster against one native tmpfs, in two phases per seed:
//
//   - shared: in a public folder (no lease, shared_timeout 0), each
//     operation on a host drawn at random, descriptors opened on either;
//   - per user: beneath one user's directory, the user handed from one
//     host to the other every few operations (descriptors closed, the
//     lease let go), while the kernels keep entries for an hour.
//
// Either way each host must show exactly the native tree: what the
// other host changed, nothing it cached of its own before.
func TestClusterDifferential(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{sharedTimeout: "0s", releaseAfter: "50ms", leaseWait: "10s", rules: `[[rule]]
match = "**/*.slow"
tier = "slow"
`})
	nativeDir := filepath.Join(t.TempDir(), "native")
	if err := os.Mkdir(nativeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a.mountTmpfs(t, nativeDir)
	ops, seeds := fusetest.EnvCount(t, envFuzzOps, fuzzDefaultOps), fusetest.EnvSeeds(t, envFuzzSeeds, clusterFuzzSeeds)
	hosts, names, mounts := []*fixture{a, b}, []string{"a", "b"}, []string{a.mnt, b.mnt}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("shared/%d", seed), func(t *testing.T) {
			tfs := &fuzzRoot{name: "tierfs", dir: a.mnt, reval: true}
			tfs.keptLinks = keptElsewhere(a, func() string { return names[slices.Index(mounts, tfs.dir)] })
			nat := &fuzzRoot{name: "native", dir: nativeDir}
			rng := rand.New(rand.NewPCG(seed, 0x73686172))
			tfs.before = func(i int) {
				h := rng.IntN(2)
				if tfs.dir != hosts[h].mnt {
					// shared_timeout 0 is still a kernel clock tick.
					time.Sleep(clusterFuzzTick)
				}
				tfs.dir = hosts[h].mnt
				if os.Getenv(envFuzzTrace) == "1" {
					t.Logf("TRACE %d on host %s", i, names[h])
				}
			}
			bases := []string{fmt.Sprintf("public/s%d/d", seed)}
			setupBases(t, bases, tfs, nat)
			fuzzRun(t, seed, ops, bases, tfs, nat)
			tfs.closeAll()
			nat.closeAll()
			for _, h := range hosts {
				tfs.dir = h.mnt
				requireSameTree(t, tfs, nat, bases)
			}
			t.Logf("%d renames met a directory moved by the other host (ESTALE, then done)", tfs.revals)
		})
		t.Run(fmt.Sprintf("user/%d", seed), func(t *testing.T) {
			user := fmt.Sprintf("ab/u%d", seed)
			tfs := &fuzzRoot{name: "tierfs", dir: a.mnt}
			tfs.keptLinks = keptElsewhere(a, func() string { return names[slices.Index(mounts, tfs.dir)] })
			nat := &fuzzRoot{name: "native", dir: nativeDir}
			cur := 0
			handOver := func() {
				tfs.closeAll()
				nat.closeAll()
				waitLease(t, a, user, names[cur], "free")
				cur = 1 - cur
				tfs.dir = hosts[cur].mnt
				if os.Getenv(envFuzzTrace) == "1" {
					t.Logf("TRACE host %s takes over", names[cur])
				}
			}
			tfs.before = func(i int) {
				if i > 0 && i%clusterFuzzHandOver == 0 {
					handOver()
				}
			}
			bases := []string{"mail/" + user + "/cur/d"}
			setupBases(t, bases, tfs, nat)
			fuzzRun(t, seed, ops, bases, tfs, nat)
			for range hosts {
				handOver()
				requireSameTree(t, tfs, nat, bases)
			}
		})
	}
}

// clusterFuzzSeeds is how many seeds CI runs (each twice: shared and
// per user).
const clusterFuzzSeeds = 4

// clusterFuzzTick is more than the kernel keeps an entry or attribute
// given a timeout of 0 (go-fuse reads 0 as the mount's timeout, so
// tierfs gives a nanosecond, which the kernel rounds up to a jiffy:
// 4 ms at HZ=250, 10 ms at HZ=100).
const clusterFuzzTick = 12 * time.Millisecond

// clusterFuzzHandOver is how many operations one host serves the user
// before the other takes over.
const clusterFuzzHandOver = 20

// requireSameTree fails unless tfs shows the native tree below bases.
func requireSameTree(t *testing.T, tfs, nat *fuzzRoot, bases []string) {
	t.Helper()
	if d := compareTrees(fuzzSnapshot(t, tfs, bases), fuzzSnapshot(t, nat, bases)); d != "" {
		t.Fatalf("%s and native differ: %s", tfs.dir, d)
	}
}

// keptElsewhere counts, for a file or symlink of the tree seen through host
// viewer(), the links the other host keeps of it in its
// .tierfs-replaced.HOST on the file's tier (f's tiers; the persistent
// ones are shared). A host hides its own kept links from st_nlink but
// cannot know the other's.
func keptElsewhere(f *fixture, viewer func() string) func(rel string) uint64 {
	return func(rel string) uint64 {
		tier := ""
		for _, name := range []string{"fast", "slow"} {
			if fileExists(f.tierPath(name, rel)) {
				tier = name
			}
		}
		if tier == "" {
			return 0
		}
		var st unix.Stat_t
		if unix.Lstat(f.tierPath(tier, rel), &st) != nil {
			return 0
		}
		var n uint64
		for _, h := range []string{"a", "b"} {
			if h == viewer() {
				continue
			}
			dir := f.tierPath(tier, ".tierfs-replaced."+h)
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				var kst unix.Stat_t
				if unix.Lstat(filepath.Join(dir, e.Name()), &kst) == nil && kst.Ino == st.Ino && kst.Dev == st.Dev {
					n++
				}
			}
		}
		return n
	}
}
