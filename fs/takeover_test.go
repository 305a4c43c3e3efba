package fs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// takeoverRoot is a mount of host b over tier tr (shared, host b) in a
// cluster where every other host counts as dead.
func takeoverRoot(t *testing.T, f *fakeLeases, tr *tiers.Tier) *Root {
	t.Helper()
	r := leaseRoot(t, f, time.Hour)
	r.tiers = []*tiers.Tier{tr}
	j, err := openJournal(tr)
	if err != nil {
		t.Fatal(err)
	}
	r.journal = j
	r.leases.dead = func(string) (bool, error) { return true, nil }
	return r
}

// While host a's daemon holds its host lock (mounted, or mounting), host
// b never replays a's intents, even with a's heartbeat stale: taking the
// user's lease fails closed (EIO) and releases it, and a's intent and
// the names it changes stay. Once a's lock is free, b's next request for
// the user finishes a's rename first. On the old code b served the user
// with the rename half done and a's intent left.
func TestSettleDeadHostNeedsItsLock(t *testing.T) {
	base := spillTier(t)
	a, b := asHost(t, base, "a"), asHost(t, base, "b")
	box := filepath.Join(base.Path, "mail/ab/alice/.Box/cur")
	if err := os.MkdirAll(box, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(box, "1"), []byte("mail"), 0o644); err != nil {
		t.Fatal(err)
	}
	ja, err := openJournal(a)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ja.begin(intent{Op: opRenameDir, From: "mail/ab/alice/.Box", To: "mail/ab/alice/.New", Tiers: []string{"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	// a's daemon is up: it holds its host lock (tiers.Tier.Lock).
	lock, err := os.OpenFile(filepath.Join(base.Path, tiers.LockName+".a"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f := newFakeLeases()
	f.other("alice", "a", false)
	r := takeoverRoot(t, f, b)
	u := r.leases.get(userKey{"ab", "alice"})
	if e := u.use(context.Background()); e != syscall.EIO {
		t.Fatalf("request on b while a's daemon holds its lock = %v, want EIO", e)
	}
	if f.holder["alice"] != "" {
		t.Errorf("b kept alice's lease after failing closed: %q", f.holder["alice"])
	}
	intentPath := filepath.Join(base.Path, ".tierfs-journal.a", id+".json")
	if _, err := os.Stat(intentPath); err != nil {
		t.Errorf("a's intent after b's refused acquisition: %v", err)
	}
	if _, err := os.Stat(box); err != nil {
		t.Errorf("b touched a's rename while a's daemon held its lock: %v", err)
	}

	lock.Close() // a's daemon exits
	if e := u.use(context.Background()); e != 0 {
		t.Fatalf("request on b once a is down = %v", e)
	}
	if _, err := os.Stat(intentPath); !os.IsNotExist(err) {
		t.Errorf("a's intent after b settled alice: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(base.Path, "mail/ab/alice/.New/cur/1"))
	if err != nil || string(got) != "mail" {
		t.Errorf("the renamed mailbox after b settled it: %q, %v", got, err)
	}
	if _, err := os.Stat(box); !os.IsNotExist(err) {
		t.Errorf("the old mailbox name after b settled it: %v", err)
	}
}

// Another host's intent keeps only its steps on tiers this host has:
// tmpfs tiers are per host, and a tier of another name is not here.
func TestLocalIntent(t *testing.T) {
	r := &Root{tiers: []*tiers.Tier{{Spec: tiers.Spec{Name: "tmp", Kind: tiers.KindTmpfs}}, {Spec: tiers.Spec{Name: "fast", Kind: tiers.KindLocal}},
		{Spec: tiers.Spec{Name: "slow", Kind: tiers.KindLocal}}}}
	for _, tc := range []struct {
		in    intent
		tiers []string
		ok    bool
	}{
		{intent{Op: opRenameDir, Tiers: []string{"tmp", "fast", "slow"}}, []string{"fast", "slow"}, true},
		{intent{Op: opRenameDir, Tiers: []string{"tmp", "other"}}, nil, false},
		{intent{Op: opRenameFile, Tiers: []string{"tmp", "fast"}}, []string{"tmp", "fast"}, false},
		{intent{Op: opRenameFile, Tiers: []string{"fast", "tmp", "slow"}}, []string{"fast", "slow"}, true},
		{intent{Op: opRenameFile, Tiers: []string{"fast", "tmp"}}, []string{"fast"}, false},
		{intent{Op: opMove, Tiers: []string{"fast", "slow"}}, []string{"fast", "slow"}, true},
		{intent{Op: opMove, Tiers: []string{"tmp", "fast"}}, []string{"tmp", "fast"}, false},
		{intent{Op: opMoveLinked, Tiers: []string{"fast", "tmp"}}, []string{"fast", "tmp"}, false},
	} {
		got, ok := r.localIntent(tc.in)
		if ok != tc.ok || ok && !slices.Equal(got.Tiers, tc.tiers) {
			t.Errorf("localIntent(%s %v) = %v, %v; want %v, %v", tc.in.Op, tc.in.Tiers, got.Tiers, ok, tc.tiers, tc.ok)
		}
	}
}

// An intent that touches two users (a directory renamed from alice's
// tree into bob's) is finished only by a host holding both: taking
// alice alone leaves it and its names; taking bob then, with alice
// still held, finishes it.
func TestSettleNeedsEveryUser(t *testing.T) {
	tr := asHost(t, spillTier(t), "b")
	for _, d := range []string{"mail/ab/alice/.X/cur", "mail/cd/bob"} {
		if err := os.MkdirAll(filepath.Join(tr.Path, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := takeoverRoot(t, newFakeLeases(), tr)
	left := &journal{t: tr, dir: r.journal.dir} // as a crashed run of this host left it
	id, err := left.begin(intent{Op: opRenameDir, From: "mail/ab/alice/.X", To: "mail/cd/bob/.Y", Tiers: []string{"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := r.leases.get(userKey{"ab", "alice"}), r.leases.get(userKey{"cd", "bob"})
	if e := alice.use(context.Background()); e != 0 {
		t.Fatalf("request for alice: %v", e)
	}
	if ok, _ := r.journal.has(id); !ok {
		t.Fatal("taking alice alone finished a change of bob's too")
	}
	if _, err := os.Stat(filepath.Join(tr.Path, "mail/ab/alice/.X")); err != nil {
		t.Fatalf("taking alice alone touched the names: %v", err)
	}
	if e := bob.use(context.Background()); e != 0 {
		t.Fatalf("request for bob: %v", e)
	}
	if ok, _ := r.journal.has(id); ok {
		t.Error("taking bob with alice held left the change")
	}
	if _, err := os.Stat(filepath.Join(tr.Path, "mail/cd/bob/.Y/cur")); err != nil {
		t.Errorf("the renamed directory: %v", err)
	}
}

// A change this host's mount left (another host held the user then) is
// finished by the mover's next pass, which takes the user's lease: the
// user's requests on other hosts would be refused for as long as it
// stays. Before, only dead hosts' changes were taken up there.
func TestSettleOwnLeftoverByMover(t *testing.T) {
	tr := asHost(t, spillTier(t), "b")
	if err := os.MkdirAll(filepath.Join(tr.Path, "mail/ab/alice/.X/cur"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := takeoverRoot(t, newFakeLeases(), tr)
	left := &journal{t: tr, dir: r.journal.dir} // as this host's mount left it
	id, err := left.begin(intent{Op: opRenameDir, From: "mail/ab/alice/.X", To: "mail/ab/alice/.Y", Tiers: []string{"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SettleDeadHosts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.journal.has(id); ok || err != nil {
		t.Errorf("the mover's settling left this host's own unfinished change (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(tr.Path, "mail/ab/alice/.Y/cur")); err != nil {
		t.Errorf("the renamed directory: %v", err)
	}
}
