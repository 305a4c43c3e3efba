package integration

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A public folder outside every per-user directory is served by both
// hosts at once, with no lease: each sees the other's changes within
// shared_timeout, as NFS clients do, though the kernel keeps per-user
// names for an hour (entry, attribute and negative timeouts of 1h).
func TestClusterSharedFolder(t *testing.T) {
	const ttl = 300 * time.Millisecond
	a, b := twoHosts(t, clusterOpts{sharedTimeout: ttl.String(), rules: `[[rule]]
match = "public/**/*.slow"
tier = "slow"
`})
	past := func() { time.Sleep(2 * ttl) }
	a.mkdirAll(t, "public/.Box/cur")
	a.mkdirAll(t, "public/.Box/new")
	a.writeFile(t, "public/.Box/cur/1", "one")
	requireContent(t, b, "public/.Box/cur/1", "one")

	// No negative entry: a name b missed is found the moment a made it.
	_, err := os.Stat(b.path("public/.Box/cur/2"))
	requireErrno(t, "stat on b before a made it", err, syscall.ENOENT)
	a.writeFile(t, "public/.Box/cur/2", "two")
	requireContent(t, b, "public/.Box/cur/2", "two")

	// A file replaced by rename (as Dovecot rewrites dovecot.index):
	// b sees the new inode once its entry expired.
	a.writeFile(t, "public/.Box/cur/1.tmp", "one, rewritten")
	if err := os.Rename(a.path("public/.Box/cur/1.tmp"), a.path("public/.Box/cur/1")); err != nil {
		t.Fatal(err)
	}
	past()
	if ia, ib := lstat(t, a.path("public/.Box/cur/1")).Ino, lstat(t, b.path("public/.Box/cur/1")).Ino; ia != ib {
		t.Fatalf("after a replaced cur/1: b's st_ino %#x, a's %#x", ib, ia)
	}
	requireContent(t, b, "public/.Box/cur/1", "one, rewritten")

	// A copy of the folder b made on another tier: a lists and reads
	// what b put there, though a's node knew the folder on fast only.
	requireNames(t, a, "public/.Box", "cur", "new")
	b.writeFile(t, "public/.Box/x.slow", "on slow")
	b.requireOnTier(t, "public/.Box/x.slow", "slow")
	requireNames(t, a, "public/.Box", "cur", "new", "x.slow")
	requireContent(t, a, "public/.Box/x.slow", "on slow")

	// A removal, and a directory's mtime (maildir's "anything new?").
	if err := os.Remove(a.path("public/.Box/cur/2")); err != nil {
		t.Fatal(err)
	}
	before := lstat(t, b.path("public/.Box/new")).Mtim
	time.Sleep(10 * time.Millisecond)
	a.writeFile(t, "public/.Box/new/3", "three")
	past()
	_, err = os.Stat(b.path("public/.Box/cur/2"))
	requireErrno(t, "stat on b after a removed it", err, syscall.ENOENT)
	if after, want := lstat(t, b.path("public/.Box/new")).Mtim, lstat(t, a.path("public/.Box/new")).Mtim; after != want || after == before {
		t.Fatalf("new/ mtime on b: %v, on a %v (was %v)", after, want, before)
	}

	// The directories above the users are shared too: a bucket b
	// missed (no user in it yet) is found once a made a user there.
	_, err = os.Stat(b.path("mail/cd"))
	requireErrno(t, "stat on b of a bucket nobody used yet", err, syscall.ENOENT)
	a.mkdirAll(t, "mail/cd/carol/cur")
	a.writeFile(t, "mail/cd/carol/cur/1", "carol's")
	waitLease(t, a, "cd/carol", "a", "free")
	requireContent(t, b, "mail/cd/carol/cur/1", "carol's")

	// The per-user names keep the mount's timeouts: a second stat past
	// shared_timeout asks tierfs nothing there, and asks it again here.
	// (Relative to an open directory: a path walk from the mount's root
	// revalidates mail/ and mail/ab/, which are shared.)
	b.mkdirAll(t, "mail/ab/alice/cur")
	b.writeFile(t, "mail/ab/alice/cur/1", "alice's")
	for _, tc := range []struct {
		dir string
		ask bool
	}{{"mail/ab/alice/cur", false}, {"public/.Box/cur", true}} {
		d, err := os.Open(b.path(tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		stat := func() {
			if err := unix.Fstatat(int(d.Fd()), "1", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Fatalf("stat %s/1 on b: %v", tc.dir, err)
			}
		}
		stat()
		asked := b.requests(t)
		past()
		stat()
		now := b.requests(t)
		d.Close()
		n := now["GETATTR"] + now["LOOKUP"] - asked["GETATTR"] - asked["LOOKUP"]
		if (n > 0) != tc.ask {
			t.Errorf("stat of %s/1 past shared_timeout: %d requests (want some: %v)", tc.dir, n, tc.ask)
		}
	}
}

// requireContent fails unless name reads want through f.
// A shared directory that host b renamed and then gave a copy on
// another tier: a's lookup of the new name finds both copies, but with a
// new node that go-fuse swaps for the one a holds from the old name,
// which knew one copy. a's utimes must still set the times of both, or
// the directory shows the newer mtime of b's copy (a directory's mtime
// is the newest of its copies').
func TestClusterSharedDirSetattr(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{sharedTimeout: "0s", rules: `[[rule]]
match = "public/**/*.slow"
tier = "slow"
`})
	a.mkdirAll(t, "public/u/c/g")
	a.mkdirAll(t, "public/u/h")
	lstat(t, a.path("public/u/c/g"))
	if err := unix.Rename(b.path("public/u/c/g"), b.path("public/u/h/f")); err != nil {
		t.Fatal(err)
	}
	b.writeFile(t, "public/u/h/f/x.slow", "on slow")
	b.requireOnTier(t, "public/u/h/f/x.slow", "slow")
	time.Sleep(20 * time.Millisecond) // past a's entries, one kernel tick
	past := pastTime()
	setTimes(t, a.path("public/u/h/f"), past, past)
	for _, tier := range []string{"fast", "slow"} {
		if got := lstat(t, a.tierPath(tier, "public/u/h/f")).Mtim; got != past {
			t.Errorf("mtime of the copy on %s after utimes on a: %v, want %v", tier, got, past)
		}
	}
	if got := lstat(t, a.path("public/u/h/f")).Mtim; got != past {
		t.Errorf("mtime on a after utimes on a: %v, want %v", got, past)
	}
}

// A file host b gave a second name, whose first name host a replaced by
// rename while it held the file open. a keeps a link of its own to the
// replaced file (fs/replaced.go), which must not show in the link count
// a answers for the other name: a's lookup finds that name, which a
// never knew, with a new node that go-fuse swaps for the one holding
// the kept link only after the lookup answered.
func TestClusterKeptLinkOtherName(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{sharedTimeout: "0s"})
	a.mkdirAll(t, "public/k")
	a.writeFile(t, "public/k/a", "old")
	fd, err := unix.Open(a.path("public/k/a"), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Link(b.path("public/k/a"), b.path("public/k/c")); err != nil {
		t.Fatal(err)
	}
	a.writeFile(t, "public/k/b", "new")
	if err := unix.Rename(a.path("public/k/b"), a.path("public/k/a")); err != nil {
		t.Fatal(err)
	}
	if kept, _ := os.ReadDir(a.tierPath("fast", ".tierfs-replaced.a")); len(kept) != 1 {
		t.Fatalf("premise: host a keeps %d links to replaced files, want 1", len(kept))
	}
	time.Sleep(20 * time.Millisecond) // past b's entries, one kernel tick
	if got := lstat(t, a.path("public/k/c")).Nlink; got != 1 {
		t.Errorf("st_nlink of c on a, looked up after a replaced the file's other name: %d, want 1", got)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 1 {
		t.Errorf("fstat of the replaced file on a: nlink %d (%v), want 1", st.Nlink, err)
	}
	requireContent(t, a, "public/k/c", "old")
}

func requireContent(t testing.TB, f *fixture, name, want string) {
	t.Helper()
	if got, err := os.ReadFile(f.path(name)); err != nil || string(got) != want {
		t.Fatalf("read %s: %q, %v; want %q", f.path(name), got, err, want)
	}
}
