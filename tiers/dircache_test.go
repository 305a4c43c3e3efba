package tiers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// create makes the empty file rel on tr.
func create(t testing.TB, tr *Tier, rel string) error {
	t.Helper()
	fd, err := tr.Open(rel, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644, nil)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

func makeDirs(t testing.TB, tr *Tier, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		if err := tr.Mkdir(rel, 0o755, nil); err != nil {
			t.Fatalf("Mkdir(%s): %v", rel, err)
		}
	}
}

// A cached directory descriptor follows its directory; once the path
// names another directory, or none, operations on the path must follow
// the path. Each case caches a/b, changes what a/b is through the tier,
// and creates a/b/new.
func TestDirCacheFollowsThePath(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, tr *Tier)
		wantErr error  // from creating a/b/new
		notIn   string // where a stale descriptor would have put it
	}{
		{"renamed away and made again", func(t *testing.T, tr *Tier) {
			if err := tr.Rename("a/b", "moved", 0); err != nil {
				t.Fatal(err)
			}
			makeDirs(t, tr, "a/b")
		}, nil, "moved/new"},
		{"removed and made again", func(t *testing.T, tr *Tier) {
			if err := tr.Unlink("a/b/f"); err != nil {
				t.Fatal(err)
			}
			if err := tr.Rmdir("a/b"); err != nil {
				t.Fatal(err)
			}
			makeDirs(t, tr, "a/b")
		}, nil, ""},
		{"ancestor renamed away and made again", func(t *testing.T, tr *Tier) {
			if err := tr.Rename("a", "z", 0); err != nil {
				t.Fatal(err)
			}
			makeDirs(t, tr, "a", "a/b")
		}, nil, "z/b/new"},
		{"ancestor exchanged", func(t *testing.T, tr *Tier) {
			makeDirs(t, tr, "c")
			if err := tr.Rename("a", "c", unix.RENAME_EXCHANGE); err != nil {
				t.Fatal(err)
			}
		}, unix.ENOENT, "c/b/new"},
		{"replaced by a rename over it", func(t *testing.T, tr *Tier) {
			if err := tr.Rename("a/b", "old", 0); err != nil {
				t.Fatal(err)
			}
			makeDirs(t, tr, "x", "a/b")
			if err := tr.Rename("x", "a/b", 0); err != nil {
				t.Fatal(err)
			}
		}, nil, "old/new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTier(t, "fast")
			makeDirs(t, tr, "a", "a/b")
			if err := create(t, tr, "a/b/f"); err != nil {
				t.Fatal(err)
			}
			if n := tr.cachedDirs(); n != 2 {
				t.Fatalf("%d directories cached after mkdir a/b and a create in it, want 2", n)
			}
			tt.change(t, tr)
			err := create(t, tr, "a/b/new")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("create a/b/new: %v, want %v", err, tt.wantErr)
			}
			if tt.notIn != "" {
				if _, err := os.Lstat(filepath.Join(tr.Path, tt.notIn)); err == nil {
					t.Fatalf("a/b/new was created as %s, in the directory a/b used to be", tt.notIn)
				}
			}
			if tt.wantErr == nil {
				if _, err := os.Lstat(filepath.Join(tr.Path, "a/b/new")); err != nil {
					t.Fatalf("a/b/new is not in a/b: %v", err)
				}
			}
		})
	}
}

// A lookup that missed the cache and resolved a/b may add it after a/b
// was renamed away and made again; with nothing cached the rename
// dropped nothing, and the descriptor of the renamed directory must
// still not be cached under a/b.
func TestDirCacheLookupRacingRename(t *testing.T) {
	tr := newTestTier(t, "fast")
	makeDirs(t, tr, "a", "a/b")
	now := time.Now()
	d, gen := tr.dirs.get("a/b", now) // holdDir's miss...
	if d != nil {
		t.Fatal("a/b cached before any lookup")
	}
	fd, err := openat2(tr.root, "a/b", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Rename("a/b", "moved", 0); err != nil { // ...a rename meanwhile...
		t.Fatal(err)
	}
	makeDirs(t, tr, "a/b")
	tr.dirs.add("a/b", fd, gen, now).release() // ...and holdDir's add
	if err := create(t, tr, "a/b/new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(tr.Path, "a/b/new")); err != nil {
		t.Errorf("a/b/new is not in the new a/b: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(tr.Path, "moved/new")); err == nil {
		t.Error("a/b/new was created in moved/, the directory renamed away")
	}
}

// Renaming and removing files, which Dovecot does several times a
// message, leaves the cache alone.
func TestDirCacheKeptAcrossFileChanges(t *testing.T) {
	tr := newTestTier(t, "fast")
	makeDirs(t, tr, "m", "m/tmp", "m/new")
	for i := range 10 {
		tmp, final := fmt.Sprintf("m/tmp/%d", i), fmt.Sprintf("m/new/%d", i)
		if err := create(t, tr, tmp); err != nil {
			t.Fatal(err)
		}
		if err := tr.Rename(tmp, final, 0); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := tr.Unlink(final); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := tr.cachedDirs(); n != 3 {
		t.Errorf("%d directories cached, want 3 (m, m/tmp and m/new)", n)
	}
	if err := tr.Rename("m/new", "m/cur", 0); err != nil {
		t.Fatal(err)
	}
	if n := tr.cachedDirs(); n != 0 {
		t.Errorf("%d directories cached after renaming a cached one, want 0", n)
	}
}

// A directory renamed behind tierfs's back is followed by its path again
// once the entry has expired.
func TestDirCacheExpires(t *testing.T) {
	tr := newTestTier(t, "fast")
	tr.dirs.ttl = 20 * time.Millisecond
	makeDirs(t, tr, "a", "a/b")
	if err := create(t, tr, "a/b/f"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tr.Path, "a/b"), filepath.Join(tr.Path, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tr.Path, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * tr.dirs.ttl)
	if err := create(t, tr, "a/b/new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(tr.Path, "a/b/new")); err != nil {
		t.Fatalf("a/b/new is not in the new a/b: %v", err)
	}
}

// A tier that goes down or comes back starts with an empty cache.
func TestDirCacheDroppedOnHealthChange(t *testing.T) {
	tr := newTestTier(t, "fast")
	makeDirs(t, tr, "a")
	if err := create(t, tr, "a/f"); err != nil {
		t.Fatal(err)
	}
	if n := tr.cachedDirs(); n != 1 {
		t.Fatalf("%d directories cached, want 1", n)
	}
	tr.setHealth(errors.New("probe failed"))
	if n := tr.cachedDirs(); n != 0 {
		t.Errorf("%d directories cached after the tier went down, want 0", n)
	}
	if err := create(t, tr, "a/g"); !errors.Is(err, errDown) {
		t.Errorf("create on a down tier: %v, want %v", err, errDown)
	}
}

// Evictions, drops and Close close every descriptor the cache opened,
// and none twice.
func TestDirCacheClosesDescriptors(t *testing.T) {
	before := openFds(t)
	dir := t.TempDir()
	if _, err := WriteMarker(dir, "fast"); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(Spec{Name: "fast", Path: dir, Kind: KindLocal}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dirCacheSize + 200 {
		d := fmt.Sprintf("d%d", i)
		makeDirs(t, tr, d)
		if err := create(t, tr, d+"/f"); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			if err := tr.Rename(d, d+"-renamed", 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := tr.cachedDirs(); n > dirCacheSize {
		t.Errorf("%d directories cached, more than the %d allowed", n, dirCacheSize)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if after := openFds(t); after != before {
		t.Errorf("%d descriptors open after Close, %d before Open", after, before)
	}
}

// Operations racing with directory renames never use a closed descriptor
// (EBADF) and fail, if at all, only as the path itself would (ENOENT).
// Run with -race.
func TestDirCacheConcurrentRenames(t *testing.T) {
	tr := newTestTier(t, "fast")
	makeDirs(t, tr, "d", "d/sub")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st unix.Stat_t
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := create(t, tr, fmt.Sprintf("d/sub/w%d-%d", w, i))
				if err == nil {
					err = tr.Lstat(fmt.Sprintf("d/sub/w%d-%d", w, i), &st)
				}
				if err != nil && !errors.Is(err, unix.ENOENT) {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 300 {
		if err := tr.Rename("d", fmt.Sprintf("old%d", i), 0); err != nil {
			t.Fatal(err)
		}
		makeDirs(t, tr, "d", "d/sub")
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("operation during renames: %v, want success or ENOENT", err)
	}
	if err := create(t, tr, "d/sub/last"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(tr.Path, "d/sub/last")); err != nil {
		t.Fatalf("d/sub/last is not in the current d/sub: %v", err)
	}
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// cachedDirs is how many directories tr's cache holds.
func (t *Tier) cachedDirs() int {
	t.dirs.mu.Lock()
	defer t.dirs.mu.Unlock()
	return len(t.dirs.entries)
}

// Another host renames a/b away and makes it again behind the tier's
// back: a create in a/b must follow the path, with the descriptors
// forgotten (a user's lease came back from another host) or never
// cached (a directory outside every user's).
func TestDirCacheBehindItsBack(t *testing.T) {
	tests := []struct {
		name       string
		filter     func(dir string) bool
		forget     []string
		wantCached int  // after mkdir a/b and a create in it
		stale      bool // the create lands in the old a/b (the control)
	}{
		{"forgotten", nil, []string{"a"}, 2, false},
		{"not cached", func(dir string) bool { return dir != "a" && dir != "a/b" }, nil, 0, false},
		{"another directory forgotten", nil, []string{"c"}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTier(t, "fast")
			tr.SetDirCacheFilter(tt.filter)
			makeDirs(t, tr, "a", "a/b", "c")
			if err := create(t, tr, "a/b/f"); err != nil {
				t.Fatal(err)
			}
			if n := tr.cachedDirs(); n != tt.wantCached {
				t.Fatalf("%d directories cached, want %d", n, tt.wantCached)
			}
			if err := os.Rename(filepath.Join(tr.Path, "a/b"), filepath.Join(tr.Path, "moved")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(tr.Path, "a/b"), 0o755); err != nil {
				t.Fatal(err)
			}
			tr.ForgetDirs(tt.forget...)
			if err := create(t, tr, "a/b/new"); err != nil {
				t.Fatal(err)
			}
			_, err := os.Lstat(filepath.Join(tr.Path, "a/b/new"))
			if (err != nil) != tt.stale {
				t.Fatalf("a/b/new in the new a/b: %v (a stale descriptor expected: %v)", err, tt.stale)
			}
		})
	}
}
