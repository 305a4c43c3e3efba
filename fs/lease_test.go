package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// fakeLeases is a lease protocol in memory: holder names who holds each
// user, and Acquire fails with errHeldFake for users another host holds.
type fakeLeases struct {
	mu       sync.Mutex
	epoch    uint64
	valid    time.Time
	holder   map[string]string // user -> host
	last     map[string]string // user -> host that served it last
	acquires int
	releases int
	gate     chan struct{} // if set, Acquire waits for it, as for a busy lease
}

var errHeldFake = errors.New("held by another host")

func newFakeLeases() *fakeLeases {
	return &fakeLeases{valid: time.Now().Add(time.Hour), holder: map[string]string{}, last: map[string]string{}}
}

func (f *fakeLeases) Valid() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.valid
}

func (f *fakeLeases) Epoch() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}

func (f *fakeLeases) setValid(t time.Time) {
	f.mu.Lock()
	f.valid = t
	f.mu.Unlock()
}

func (f *fakeLeases) Acquire(ctx context.Context, hash, user string) (string, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acquires++
	if h := f.holder[user]; h != "" && h != "me" {
		return "", errHeldFake
	}
	prev := f.last[user]
	if prev == "me" {
		prev = ""
	}
	f.holder[user], f.last[user] = "me", "me"
	return prev, nil
}

func (f *fakeLeases) Release(ctx context.Context, hash, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases++
	if f.holder[user] == "me" {
		delete(f.holder, user)
	}
	return nil
}

// other makes host h hold (or, held false, have served) user.
func (f *fakeLeases) other(user, h string, held bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last[user] = h
	if held {
		f.holder[user] = h
	} else {
		delete(f.holder, user)
	}
}

func (f *fakeLeases) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acquires, f.releases
}

func leaseRoot(t testing.TB, f Leases, after time.Duration) *Root {
	g, err := policy.CompileGlob("mail/{hash}/{user}")
	if err != nil {
		t.Fatal(err)
	}
	r := &Root{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.root = &node{r: r}
	r.leases = newLeaseSet(r, &ClusterOptions{Leases: f, UserDirs: []*policy.Glob{g}, ReleaseAfter: after, Host: "me"})
	return r
}

func TestLeaseUse(t *testing.T) {
	f := newFakeLeases()
	r := leaseRoot(t, f, time.Hour)
	s := r.leases
	u, dir := s.userOf("mail/ab/alice/cur/1")
	if u == nil || dir != "mail/ab/alice" || u.key != (userKey{"ab", "alice"}) {
		t.Fatalf("userOf = %v %q", u, dir)
	}
	if v, _ := s.userOf("mail/ab"); v != nil {
		t.Fatalf("mail/ab has a user: %v", v.key)
	}
	if u2, _ := s.userOf("mail/ab/alice"); u2 != u {
		t.Fatal("the user's directory and a file beneath it have two leases")
	}
	ctx := context.Background()
	for range 100 {
		if e := u.use(ctx); e != 0 {
			t.Fatalf("use: %v", e)
		}
	}
	if a, _ := f.counts(); a != 1 {
		t.Fatalf("%d acquires for 100 requests, want 1", a)
	}
	// Another host holds bob: EIO, counted.
	f.other("bob", "b", true)
	b, _ := s.userOf("mail/cd/bob")
	if e := b.use(ctx); e != syscall.EIO {
		t.Fatalf("use of a user held elsewhere: %v, want EIO", e)
	}
	if st := s.stats(); st.Refused != 1 || st.Held != 1 || st.Acquired != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Once b let go after serving bob: a hostchange.
	f.other("bob", "b", false)
	if e := b.use(ctx); e != 0 {
		t.Fatalf("use after b released: %v", e)
	}
	if st := s.stats(); st.Hostchanges != 1 || st.Held != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// A request whose process gets a signal while it waits for the lease
// (the kernel then cancels its context) still gets the lease, not EIO.
func TestLeaseWaitIgnoresInterrupt(t *testing.T) {
	f := newFakeLeases()
	f.gate = make(chan struct{})
	r := leaseRoot(t, f, time.Hour)
	u, _ := r.leases.userOf("mail/ab/alice")
	ctx, interrupt := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		interrupt()
		time.Sleep(20 * time.Millisecond)
		close(f.gate)
	}()
	if e := u.use(ctx); e != 0 {
		t.Fatalf("use interrupted while it waited: %v, want the lease", e)
	}
	if f.holder["alice"] != "me" || r.leases.stats().Refused != 0 {
		t.Fatalf("holder %q, stats %+v", f.holder["alice"], r.leases.stats())
	}
}

// The heartbeat lapses: the worker drops every lease, and the next
// request asks for it again.
func TestLeaseLost(t *testing.T) {
	f := newFakeLeases()
	r := leaseRoot(t, f, time.Hour)
	s := r.leases
	u, _ := s.userOf("mail/ab/alice")
	ctx := context.Background()
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	epoch := u.epoch.Load()
	f.setValid(time.Now().Add(-time.Second))
	s.sweep(ctx)
	if u.fresh.Load() != 0 || u.state != leaseFree || s.stats().Lost != 1 {
		t.Fatalf("after the heartbeat lapsed: fresh %d state %d stats %+v", u.fresh.Load(), u.state, s.stats())
	}
	if u.epoch.Load() == epoch {
		t.Fatal("cached lookups beneath the user survive the lost lease")
	}
	f.other("alice", "b", true)
	if e := u.use(ctx); e != syscall.EIO {
		t.Fatalf("use after the lease was lost and taken: %v, want EIO", e)
	}
}

// A hostchange that cannot drop the user's tmpfs state fails the
// request and is tried again by the next one, although this host's own
// release in between hides the other host from the protocol.
func TestLeaseHostchangeRetried(t *testing.T) {
	f := newFakeLeases()
	r := leaseRoot(t, f, time.Hour)
	tmp, err := tiers.Open(tiers.Spec{Name: "tmp", Path: tmpfsDir(t), Kind: tiers.KindTmpfs}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	r.tiers = []*tiers.Tier{tmp}
	if err := tmp.Mkdir("mail", 0o755, nil); err != nil {
		t.Fatal(err)
	}
	// droppedDir is a file: the user's directory cannot be set aside.
	fd, err := tmp.Open(droppedDir, unix.O_CREAT|unix.O_WRONLY, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if err := tmp.Mkdir("mail/ab", 0o755, nil); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Mkdir("mail/ab/alice", 0o755, nil); err != nil {
		t.Fatal(err)
	}
	f.other("alice", "b", false)
	u, _ := r.leases.userOf("mail/ab/alice")
	ctx := context.Background()
	if e := u.use(ctx); e != syscall.EIO {
		t.Fatalf("use with the state not droppable: %v, want EIO", e)
	}
	if err := tmp.Unlink(droppedDir); err != nil {
		t.Fatal(err)
	}
	if e := u.use(ctx); e != 0 {
		t.Fatalf("use once the state can go: %v", e)
	}
	var st unix.Stat_t
	if err := tmp.Lstat("mail/ab/alice", &st); err != unix.ENOENT {
		t.Fatalf("the user's tmpfs directory after the retried hostchange: %v, want ENOENT", err)
	}
	if err := tmp.Lstat(acquiringName(u.key), &st); err != unix.ENOENT {
		t.Fatalf("the acquisition record after the hostchange: %v, want ENOENT", err)
	}
}

// tmpfsDir is a new directory on a tmpfs.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "tierfs-lease-")
	if err != nil {
		t.Skip("no tmpfs at /dev/shm")
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// A heartbeat that renewed validity only after it lapsed starts a new
// epoch: a lease of the old one is taken again at the next request, and
// the worker drops it with the caches beneath.
func TestLeaseEpoch(t *testing.T) {
	f := newFakeLeases()
	r := leaseRoot(t, f, time.Hour)
	u, _ := r.leases.userOf("mail/ab/alice")
	ctx := context.Background()
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	f.mu.Lock()
	f.epoch++
	f.mu.Unlock()
	u.fresh.Store(1) // as after a slice without requests
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	if a, _ := f.counts(); a != 2 {
		t.Fatalf("%d acquires, want 2 (the lease of the old epoch is void)", a)
	}
	f.mu.Lock()
	f.epoch++
	f.mu.Unlock()
	epoch := u.epoch.Load()
	r.leases.sweep(ctx)
	if u.state != leaseFree || u.epoch.Load() == epoch || r.leases.stats().Lost != 1 {
		t.Fatalf("after a new epoch: state %d, cache epoch %d (was %d), stats %+v", u.state, u.epoch.Load(), epoch, r.leases.stats())
	}
}

// An idle lease is released; an open file keeps it.
func TestLeaseReleaseIdle(t *testing.T) {
	f := newFakeLeases()
	r := leaseRoot(t, f, 20*time.Millisecond)
	s := r.leases
	u, _ := s.userOf("mail/ab/alice")
	ctx := context.Background()
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	u.opens.Add(1)
	time.Sleep(40 * time.Millisecond)
	s.sweep(ctx)
	if _, rel := f.counts(); rel != 0 || u.state != leaseHeld {
		t.Fatalf("released with a file open: %d releases, state %d", rel, u.state)
	}
	u.opens.Add(-1)
	s.sweep(ctx)
	if _, rel := f.counts(); rel != 1 || u.state != leaseFree || u.fresh.Load() != 0 {
		t.Fatalf("idle lease: %d releases, state %d", rel, u.state)
	}
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	if a, _ := f.counts(); a != 2 {
		t.Fatalf("%d acquires, want 2 (again after the release)", a)
	}
}

// BenchmarkLeaseCheck is the per-request cost of a held lease.
func BenchmarkLeaseCheck(b *testing.B) {
	r := leaseRoot(b, newFakeLeases(), time.Hour)
	u, _ := r.leases.userOf("mail/ab/alice")
	n := &node{r: r, user: u}
	ctx := context.Background()
	n.leased(ctx)
	b.ResetTimer()
	for range b.N {
		if n.leased(ctx) != 0 {
			b.Fatal("refused")
		}
	}
}

// BenchmarkLeaseCheckNoCluster is its cost outside a cluster.
func BenchmarkLeaseCheckNoCluster(b *testing.B) {
	r := &Root{}
	n := &node{r: r}
	ctx := context.Background()
	for range b.N {
		if n.leasedChild(ctx, "x") != 0 {
			b.Fatal("refused")
		}
	}
}

// BenchmarkLeaseSweep is the lease worker's sweep (once a second) on a
// host that has served 100,000 users since it mounted and holds 10.
func BenchmarkLeaseSweep(b *testing.B) {
	r := leaseRoot(b, newFakeLeases(), time.Hour)
	s := r.leases
	ctx := context.Background()
	for i := range 100000 {
		u := s.get(userKey{"ab", fmt.Sprintf("user%d", i)})
		if i%10000 == 0 {
			if e := u.use(ctx); e != 0 {
				b.Fatal(e)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s.sweep(ctx)
	}
}

// The worker looks only at leases acquired since it last found them
// free: once released, a user leaves that set, and taking the lease
// again puts it back (BenchmarkLeaseSweep: 2.2–3.1 ms a sweep over
// 100,000 users seen before, under 1 µs after).
func TestLeaseSweepForgetsFree(t *testing.T) {
	f := newFakeLeases()
	r := leaseRoot(t, f, time.Millisecond)
	s := r.leases
	ctx := context.Background()
	u := s.get(userKey{"ab", "alice"})
	s.get(userKey{"cd", "bob"}) // seen, never held
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	if n := len(s.heldUsers()); n != 1 {
		t.Fatalf("held users after one acquisition: %d, want 1", n)
	}
	time.Sleep(5 * time.Millisecond)
	s.sweep(ctx) // releases alice
	s.sweep(ctx) // finds her free
	if _, rel := f.counts(); rel != 1 {
		t.Fatalf("releases: %d, want 1", rel)
	}
	if n := len(s.heldUsers()); n != 0 {
		t.Fatalf("held users after the release: %d, want 0", n)
	}
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	if got := s.heldUsers(); len(got) != 1 || got[0] != u {
		t.Fatalf("held users after taking alice again: %v", got)
	}
	if st := s.stats(); st.Held != 1 {
		t.Errorf("status: %d held, want 1", st.Held)
	}
}
