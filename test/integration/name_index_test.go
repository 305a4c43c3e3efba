package integration

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// nameIndexConfig puts n/ on a tier of kind nfs (a plain directory
// declared nfs) and turns the kernel's entry caches off, so that every
// stat through the mount is a LOOKUP that tierfs answers. Attributes stay
// cached, so that the permission check of a walk asks nothing.
func nameIndexConfig() fsConfig {
	return fsConfig{
		Tiers: []tierSpec{
			{Name: "fast", Kind: "local"},
			{Name: "slow", Kind: "nfs"},
		},
		Rules: []ruleSpec{
			{"n/**/*.fast", "fast"},
			{"n/**", "slow"},
			{"**", "fast"},
		},
		Extra: "[kernel]\nentry_timeout = \"0s\"\nnegative_timeout = \"0s\"\n",
	}
}

// A directory on an nfs tier answers lookups of names it does not hold
// from its name index, without a backend call, once tierfs has listed it
// (a readdir through the mount, or on its own after two misses); and
// every name made through the mount is found at once, whatever made it.
func TestNameIndexAnswersMissingNames(t *testing.T) {
	fx, sock := mountConfigWithMetrics(t, nameIndexConfig())
	slowOps := func(op string) float64 {
		return opsScrape(t, sock)[fmt.Sprintf(`tierfs_tier_operations_total{op=%q,tier="slow"}`, op)]
	}
	slowLstats := func() float64 { return slowOps("lstat") }
	// missingCosts looks up names missing from dir, each one LOOKUP (a
	// stat relative to the directory walks no other name), and returns
	// the backend lstats they cost.
	missingCosts := func(dir string, names int) float64 {
		t.Helper()
		dfd, err := unix.Open(fx.path(dir), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(dfd)
		before := slowLstats()
		for i := range names {
			name := fmt.Sprintf("missing-%d", i)
			if err := unix.Fstatat(dfd, name, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("lstat %s/%s: %s, want ENOENT", dir, name, errName(err))
			}
		}
		return slowLstats() - before
	}

	fx.mkdirAll(t, "n/cur")
	fx.mkdirAll(t, "n/tmp")
	for i := range 5 {
		fx.writeFile(t, fmt.Sprintf("n/cur/m%d", i), "x")
	}
	if d := missingCosts("n/tmp", 2); d != 2 {
		t.Fatalf("the first two misses in an unlisted directory cost %v backend lstats, want 2", d)
	}
	if _, err := os.ReadDir(fx.path("n/cur")); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"n/cur", "n/tmp"} {
		if d := missingCosts(dir, 20); d != 0 {
			t.Errorf("%s: 20 missing names cost %v backend lstats, want 0 (the name index answers)", dir, d)
		}
	}
	if c := cacheStats(t, fx); c.Absent < 40 {
		t.Errorf("status counts %d lookups answered by name indexes, want at least 40", c.Absent)
	}

	// A directory that grows too big for an index loses it, is listed
	// once more (partly) to learn that, and is then asked about each name.
	fx.mkdirAll(t, "n/big")
	readdirs := slowOps("readdir")
	for i := range 4100 {
		if err := os.WriteFile(fx.path(fmt.Sprintf("n/big/%d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if d := missingCosts("n/big", 10); d != 10 {
		t.Errorf("n/big: 10 missing names cost %v backend lstats, want 10 (too big to index)", d)
	}
	if d := slowOps("readdir") - readdirs; d != 2 {
		t.Errorf("n/big was listed %v times for its index, want twice (small, then too big)", d)
	}

	// Every way of making a name through the mount puts it in the index.
	steps := []struct {
		do      func() error
		present []string
		gone    []string
	}{
		{do: func() error { return os.WriteFile(fx.path("n/cur/new1"), []byte("new1"), 0o644) }, present: []string{"n/cur/new1"}},
		{do: func() error { return os.Rename(fx.path("n/cur/new1"), fx.path("n/cur/new2")) }, present: []string{"n/cur/new2"}, gone: []string{"n/cur/new1"}},
		{do: func() error { return os.Link(fx.path("n/cur/new2"), fx.path("n/cur/new3")) }, present: []string{"n/cur/new2", "n/cur/new3"}},
		{do: func() error { return os.Mkdir(fx.path("n/cur/sub"), 0o755) }, present: []string{"n/cur/sub"}},
		{do: func() error { return os.Symlink("new3", fx.path("n/cur/sym")) }, present: []string{"n/cur/sym"}},
		{do: func() error { return unix.Mknod(fx.path("n/cur/fifo"), unix.S_IFIFO|0o644, 0) }, present: []string{"n/cur/fifo"}},
		{do: func() error { return os.WriteFile(fx.path("n/tmp/t1"), []byte("t1"), 0o644) }, present: []string{"n/tmp/t1"}},
		{do: func() error { return os.Rename(fx.path("n/tmp/t1"), fx.path("n/cur/t1")) }, present: []string{"n/cur/t1"}, gone: []string{"n/tmp/t1"}},
		{do: func() error { return os.Rename(fx.path("n/cur/sub"), fx.path("n/tmp/sub")) }, present: []string{"n/tmp/sub"}, gone: []string{"n/cur/sub"}},
		{do: func() error { return os.Remove(fx.path("n/cur/new2")) }, present: []string{"n/cur/new3"}, gone: []string{"n/cur/new2"}},
		{do: func() error { return os.Remove(fx.path("n/tmp/sub")) }, gone: []string{"n/tmp/sub"}},
		// A name on the other tier widens the directory's tiers: the index
		// of the one it had no longer covers it.
		{do: func() error { return os.WriteFile(fx.path("n/cur/x.fast"), []byte("x"), 0o644) }, present: []string{"n/cur/x.fast"}},
		{do: func() error { return os.WriteFile(fx.path("n/cur/after-fast"), []byte("y"), 0o644) }, present: []string{"n/cur/after-fast"}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		for _, rel := range s.present {
			if err := unix.Lstat(fx.path(rel), new(unix.Stat_t)); err != nil {
				t.Errorf("step %d: %s: %s after it was made through the mount", i, rel, errName(err))
			}
		}
		for _, rel := range s.gone {
			if err := unix.Lstat(fx.path(rel), new(unix.Stat_t)); !errors.Is(err, unix.ENOENT) {
				t.Errorf("step %d: %s: %s, want ENOENT", i, rel, errName(err))
			}
		}
	}
	fx.requireOnTier(t, "n/cur/x.fast", "fast")
	if got, err := os.ReadFile(fx.path("n/cur/t1")); err != nil || string(got) != "t1" {
		t.Errorf("n/cur/t1 holds %q (%v), want \"t1\"", got, err)
	}
}
