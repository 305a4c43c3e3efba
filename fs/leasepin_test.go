package fs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// pinRoot is leaseRoot with the node count OnForget needs.
func pinRoot(t testing.TB, f Leases, after time.Duration) *Root {
	r := leaseRoot(t, f, after)
	r.nodes = newLiveNodes(0)
	return r
}

// userNode is a node made as a lookup makes it: child name of parent.
func userNode(parent *node, name string) *node {
	ch := &node{r: parent.r}
	ch.setUser(parent, name)
	return ch
}

// releaseAll lets every idle lease go and frees what nothing pins: one
// sweep releases, the next finds the lease free.
func releaseAll(ctx context.Context, s *leaseSet) {
	time.Sleep(s.after + time.Millisecond)
	s.sweep(ctx)
	s.sweep(ctx)
}

// A released record nothing pins is freed; the next request makes a
// new one, whose cache epoch none of the old one's was.
func TestLeaseRecordFreed(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Millisecond)
	s, ctx := r.leases, context.Background()
	u := s.get(userKey{"ab", "alice"})
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	s.unpin(u)
	if n := s.known(); n != 1 {
		t.Fatalf("records while the lease is held: %d, want 1", n)
	}
	releaseAll(ctx, s)
	if n, _ := f.counts(); n != 1 {
		t.Fatalf("acquires %d, want 1", n)
	}
	if _, rel := f.counts(); rel != 1 {
		t.Fatalf("releases %d, want 1", rel)
	}
	if n := s.known(); n != 0 || !u.gone.Load() {
		t.Fatalf("after the release: %d records, gone %v; want 0, true", n, u.gone.Load())
	}
	if st := s.stats(); st.Users != 0 {
		t.Fatalf("status: %d users known, want 0", st.Users)
	}
	last := u.epoch.Load()
	v := s.get(userKey{"ab", "alice"})
	defer s.unpin(v)
	if v == u || v.gone.Load() {
		t.Fatal("get after the free returned the freed record")
	}
	if v.epoch.Load() <= last {
		t.Fatalf("new record's cache epoch %d, the freed one reached %d: its cached lookups would be served", v.epoch.Load(), last)
	}
	if e := v.use(ctx); e != 0 {
		t.Fatal(e)
	}
	if a, _ := f.counts(); a != 2 || s.stats().Users != 1 {
		t.Fatalf("acquires %d, users %d; want 2, 1", a, s.stats().Users)
	}
}

// Nodes and callers pin a record: released, it stays until the last pin
// goes; a node forgotten twice unpins once.
func TestLeasePinnedRecordKept(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Millisecond)
	s, ctx := r.leases, context.Background()
	dir := userNode(r.root, "mail/ab/alice")
	child := userNode(dir, "cur")
	u := dir.user
	if u == nil || child.user != u || u.pins.Load() != 2 {
		t.Fatalf("nodes' records: %p %p, pins %d; want one record, 2 pins", dir.user, child.user, u.pins.Load())
	}
	if e := child.leased(ctx); e != 0 {
		t.Fatal(e)
	}
	caller := s.get(u.key)
	releaseAll(ctx, s)
	if _, rel := f.counts(); rel != 1 {
		t.Fatalf("releases %d, want 1", rel)
	}
	dir.OnForget()
	dir.OnForget() // go-fuse may tell twice; only one pin is the node's
	child.OnForget()
	if s.known() != 1 || u.gone.Load() {
		t.Fatalf("freed with a caller's pin left: %d records, gone %v", s.known(), u.gone.Load())
	}
	if v := s.get(u.key); v != u {
		t.Fatal("a pinned user got a second record")
	} else {
		s.unpin(v)
	}
	s.unpin(caller)
	if s.known() != 0 || !u.gone.Load() {
		t.Fatalf("the last unpin of a free record left %d records, gone %v", s.known(), u.gone.Load())
	}
}

// A node go-fuse never took (another lookup's node won) unpins when the
// pruner's audit finds it gone twice.
func TestLeaseDiscardedNodeUnpins(t *testing.T) {
	r := pinRoot(t, newFakeLeases(), time.Hour)
	discarded := userNode(r.root, "mail/ab/alice")
	r.nodes.track(discarded)
	p := newPruner(r.nodes, nil, t.TempDir(), nil)
	p.drain()
	p.audit()
	if r.leases.known() != 1 {
		t.Fatal("freed on the first audit, which may be before go-fuse registers the node")
	}
	p.audit()
	if n := r.leases.known(); n != 0 {
		t.Fatalf("records after the audit found the node twice gone: %d, want 0", n)
	}
}

// A failed hostchange keeps its record (the next acquisition must drop
// the state); so does a refusal logged less than refusalLogEvery ago,
// so that the log stays rate-limited.
func TestLeaseRecordKeptState(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Millisecond)
	tmp, err := tiers.Open(tiers.Spec{Name: "tmp", Path: tmpfsDir(t), Kind: tiers.KindTmpfs}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	r.tiers = []*tiers.Tier{tmp}
	for _, d := range []string{"mail", "mail/ab", "mail/ab/alice"} {
		if err := tmp.Mkdir(d, 0o755, nil); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := tmp.Open(droppedDir, unix.O_CREAT|unix.O_WRONLY, 0o644, nil) // the state cannot be set aside
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	s, ctx := r.leases, context.Background()
	f.other("alice", "b", false)
	u := s.get(userKey{"ab", "alice"})
	if e := u.use(ctx); e != syscall.EIO {
		t.Fatalf("use: %v, want EIO", e)
	}
	s.unpin(u)
	releaseAll(ctx, s)
	if s.known() != 1 || u.gone.Load() {
		t.Fatal("a record with a failed hostchange pending was freed")
	}
	if err := tmp.Unlink(droppedDir); err != nil {
		t.Fatal(err)
	}
	if v := s.get(u.key); v != u || v.use(ctx) != 0 {
		t.Fatal("the retried hostchange did not run on the kept record")
	}
	s.unpin(u)
	u.mu.Lock()
	u.logged -= int64(refusalLogEvery) // the first refusal's rate limit ended
	u.mu.Unlock()
	releaseAll(ctx, s)
	if s.known() != 0 {
		t.Fatal("record kept after the hostchange succeeded and the lease went")
	}

	f.other("bob", "b", true)
	b := s.get(userKey{"cd", "bob"})
	if e := b.use(ctx); e != syscall.EIO {
		t.Fatalf("use of a user held elsewhere: %v, want EIO", e)
	}
	s.unpin(b)
	releaseAll(ctx, s)
	if s.known() != 1 {
		t.Fatal("a refused user's record went before its log's rate limit ended: each request would log")
	}
	b.mu.Lock()
	b.logged -= int64(refusalLogEvery)
	b.mu.Unlock()
	s.sweep(ctx)
	if s.known() != 0 {
		t.Fatal("a refused user's record stays after its log's rate limit ended")
	}
}

// A node the kernel revived after it was forgotten may point at a
// freed record: its requests, open files, cache keys and children go to
// the user's live record, and the freed one never takes the lease.
func TestLeaseRevivedNodeForwards(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Hour)
	s, ctx := r.leases, context.Background()
	n := userNode(r.root, "mail/ab/alice")
	u := n.user
	n.unpinUser() // OnForget ran, then a lookup handed n out again
	if !u.gone.Load() {
		t.Fatal("an unpinned free record was kept")
	}
	if e := n.leased(ctx); e != 0 {
		t.Fatal(e)
	}
	v := s.get(u.key)
	defer s.unpin(v)
	if v == u || v.fresh.Load() == 0 || u.state != leaseFree || u.fresh.Load() != 0 {
		t.Fatalf("live record %p (fresh %d), freed %p (state %d): want the live one held", v, v.fresh.Load(), u, u.state)
	}
	if a, _ := f.counts(); a != 1 {
		t.Fatalf("acquires %d, want 1", a)
	}
	n.addUserOpens(1)
	if v.opens.Load() != 1 || u.opens.Load() != 0 {
		t.Fatalf("open counted on live %d, freed %d; want 1, 0", v.opens.Load(), u.opens.Load())
	}
	n.addUserOpens(-1)
	if v.opens.Load() != 0 {
		t.Fatalf("live record's opens after the close: %d", v.opens.Load())
	}
	if k1, k2 := n.cacheKey("x"), n.cacheKey("x"); k1 == k2 {
		t.Fatal("a freed record's cache keys repeat: lookups cached under it outlive its user's release")
	}
	if c := userNode(n, "cur"); c.user != v {
		t.Fatal("a child of a revived node got the freed record")
	}
	if ds := v.dirList(); len(ds) != 1 || ds[0] != "mail/ab/alice" {
		t.Fatalf("live record's directories %v: its release would not drop the revived node's entry", ds)
	}
}

// recordLog remembers every record handed out, per user, until check
// sees it freed (final: under s.mu, free's revert is not seen).
type recordLog struct {
	mu    sync.Mutex
	recs  map[userKey]map[*userLease]bool
	freed int
}

func (l *recordLog) add(u *userLease) {
	l.mu.Lock()
	if l.recs[u.key] == nil {
		l.recs[u.key] = map[*userLease]bool{}
	}
	l.recs[u.key][u] = true
	l.mu.Unlock()
}

// check fails unless every record not freed is its user's record in
// the map, and at most one record of a user believes it holds the lease.
func (l *recordLog) check(s *leaseSet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, rs := range l.recs {
		live, holding := 0, 0
		for u := range rs {
			if u.gone.Load() {
				if u.fresh.Load() != 0 {
					return fmt.Errorf("user %v: a freed record holds the lease", k)
				}
				delete(rs, u)
				l.freed++
				continue
			}
			live++
			if s.users[k] != u {
				return fmt.Errorf("user %v: a record not freed is not the map's", k)
			}
			if u.fresh.Load() > 1 {
				holding++
			}
		}
		if live > 1 || holding > 1 {
			return fmt.Errorf("user %v: %d records not freed, %d holding", k, live, holding)
		}
	}
	return nil
}

// hammerStep does one random thing a request, a node or the mover does
// with user k's record, and fails if the record it pinned was freed.
func hammerStep(ctx context.Context, r *Root, log *recordLog, rnd *rand.Rand, k userKey) error {
	s := r.leases
	switch rnd.IntN(4) {
	case 0: // a request naming the user's directory
		u := s.get(k)
		log.add(u)
		u.use(ctx)
		defer s.unpin(u)
		if u.gone.Load() {
			return fmt.Errorf("user %v: a pinned record was freed", k)
		}
	case 1, 2: // nodes: the user's directory and a file beneath, a file open
		dir := userNode(r.root, "mail/"+k.hash+"/"+k.user)
		ch := userNode(dir, "f")
		log.add(dir.user)
		log.add(ch.user)
		ch.leased(ctx)
		ch.addUserOpens(1)
		runtime.Gosched()
		ch.addUserOpens(-1)
		if dir.user.gone.Load() || ch.user.gone.Load() {
			return fmt.Errorf("user %v: a record nodes pin was freed", k)
		}
		dir.OnForget()
		ch.OnForget()
	case 3: // the mover
		u := s.get(k)
		log.add(u)
		if u.hold(ctx, holdWait) == nil {
			u.opens.Add(-1)
		}
		defer s.unpin(u)
		if u.gone.Load() {
			return fmt.Errorf("user %v: a record held for a move was freed", k)
		}
	}
	return nil
}

// The hammer: requests, nodes and mover holds of a few users race the
// worker's releases and frees, heartbeat epochs, and another host
// taking one user now and then (refusals, hostchanges); at every step
// no user has two records, and none that a holder pins is freed.
// TIERFS_LEASE_HAMMER sets the steps per goroutine.
func TestLeasePinHammer(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, 200*time.Microsecond)
	s, ctx := r.leases, context.Background()
	log := &recordLog{recs: map[userKey]map[*userLease]bool{}}
	steps := 2000
	if v, err := strconv.Atoi(os.Getenv("TIERFS_LEASE_HAMMER")); err == nil {
		steps = v
	}
	var stop atomic.Bool
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			s.sweep(ctx)
			if i%50 == 0 {
				f.mu.Lock()
				f.epoch++ // a heartbeat renewed after a lapse: every lease is lost
				f.mu.Unlock()
			}
			if i%20 == 0 {
				f.other("u3", "b", i%40 == 0) // b takes u3, or lets it go after serving it
			}
		}
	})
	errs := make(chan error, 1)
	bg.Go(func() {
		for !stop.Load() {
			if err := log.check(s); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			for range steps {
				k := userKey{"ab", fmt.Sprintf("u%d", rnd.IntN(4))}
				if err := hammerStep(ctx, r, log, rnd, k); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	bg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if err := log.check(s); err != nil {
		t.Fatal(err)
	}
	f.other("u3", "b", false)
	releaseAll(ctx, s)
	for _, u := range s.heldUsers() {
		t.Errorf("user %v still held: state %d fresh %d opens %d pins %d idle for %v", u.key, u.state, u.fresh.Load(), u.opens.Load(), u.pins.Load(), time.Duration(s.now()-u.last.Load()))
	}
	s.mu.Lock()
	refused := make([]*userLease, 0, len(s.loose))
	for _, u := range s.loose {
		refused = append(refused, u)
	}
	s.mu.Unlock()
	for _, u := range refused {
		u.mu.Lock()
		u.logged -= int64(refusalLogEvery) // its refusal's rate limit ends
		u.mu.Unlock()
	}
	s.sweep(ctx)
	if n := s.known(); n != 0 {
		t.Fatalf("records after every pin went and every lease was released: %d (%d refused), want 0", n, len(refused))
	}
	if err := log.check(s); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records made and freed for %d users over %d steps", log.freed, len(log.recs), 6*steps)
}

// grantLeases grants every lease at once and keeps nothing per user, so
// that the heap measured is tierfs's own.
type grantLeases struct{}

func (grantLeases) Valid() time.Time { return time.Now().Add(time.Hour) }
func (grantLeases) Epoch() uint64    { return 0 }
func (grantLeases) Acquire(ctx context.Context, hash, user string) (string, error) {
	return "", nil
}
func (grantLeases) Release(ctx context.Context, hash, user string) error { return nil }

// The heap of 100,000 users served (21-character names, the preset's
// four per-user directories each) and then released: once the worker
// freed their records it is back near where it started.
// TIERFS_LEASE_USERS sets the number of users (10,000 under -race,
// which takes ten times as long).
func TestLeaseRecordMemory(t *testing.T) {
	users := 100000
	if raceEnabled {
		users = 10000
	}
	if v, err := strconv.Atoi(os.Getenv("TIERFS_LEASE_USERS")); err == nil {
		users = v
	}
	r := pinRoot(t, grantLeases{}, time.Millisecond)
	s, ctx := r.leases, context.Background()
	start := liveHeap()
	for i := range users {
		k := userKey{fmt.Sprintf("%02x", i%256), fmt.Sprintf("u%08d@example.com", i)}
		u := s.get(k)
		for _, top := range []string{"volatile", "listindex", "index", "mail"} {
			u.addDir(top + "/" + k.hash + "/" + k.user)
		}
		if e := u.use(ctx); e != 0 {
			t.Fatal(e)
		}
		s.unpin(u)
	}
	served := liveHeap()
	if n := s.known(); n != users {
		t.Fatalf("records while held: %d, want %d", n, users)
	}
	releaseAll(ctx, s)
	if n := s.known(); n != 0 {
		t.Fatalf("records after the release: %d, want 0", n)
	}
	freed := liveHeap()
	runtime.KeepAlive(r) // the mount's records stay: measure what they keep
	per := func(b uint64) int64 { return (int64(b) - int64(start)) / int64(users) }
	t.Logf("heap: %d bytes at the start, %d with %d users held (%d bytes a user), %d once released (%d bytes a user)",
		start, served, users, per(served), freed, per(freed))
	if per(freed) > per(served)/8 {
		t.Errorf("released users keep %d bytes each of the %d they took", per(freed), per(served))
	}
}

// A mover's hold that calls off a release in progress leaves the lease
// held as the worker sees it, so that it is released once the hold
// ends; before, it stayed held with fresh 0, which the worker takes for
// free: never released, the user answered EIO on every other host
// until this one unmounted.
func TestLeaseHoldDuringRelease(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Millisecond)
	s, ctx := r.leases, context.Background()
	u := s.get(userKey{"ab", "alice"})
	defer s.unpin(u)
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	time.Sleep(2 * time.Millisecond)
	if !s.beginRelease(u) {
		t.Fatal("an idle lease was not released")
	}
	if err := u.hold(ctx, holdWait); err != nil { // the mover, while the worker drops caches
		t.Fatal(err)
	}
	s.endRelease(ctx, u)
	if _, rel := f.counts(); rel != 0 {
		t.Fatal("released under the mover's hold")
	}
	u.opens.Add(-1) // the move is done
	releaseAll(ctx, s)
	if _, rel := f.counts(); rel != 1 || u.state != leaseFree {
		t.Fatalf("after the hold ended: %d releases, state %d; want 1, free", rel, u.state)
	}
}
