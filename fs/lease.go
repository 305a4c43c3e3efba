package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/policy"
)

// Leases is what the filesystem needs of the cluster's lease protocol
// (*cluster.Leases implements it): a per-user lease on the shared tier,
// so that two hosts never serve one user at once.
type Leases interface {
	// Valid is the monotonic time until which the leases this host
	// holds are its own; after it, others may take them.
	Valid() time.Time
	// Acquire takes the lease of (hash, user), waiting a bounded time
	// for another host's; prev names another host that held it since
	// this host last did ("" for none).
	Acquire(ctx context.Context, hash, user string) (prev string, err error)
	// Release gives the lease up, if this host holds it.
	Release(ctx context.Context, hash, user string) error
	// Epoch changes when a heartbeat renews validity after it lapsed:
	// leases acquired before are void and must be acquired again.
	Epoch() uint64
}

// ClusterOptions put a mount in a cluster of hosts sharing the
// persistent tiers (see Options.Cluster).
type ClusterOptions struct {
	Leases Leases
	// UserDirs are the per-user directories (globs ending in {user}):
	// every request beneath one needs that user's lease.
	UserDirs []*policy.Glob
	// ReleaseAfter is how long a lease stays held after the last
	// request for the user, with none of the user's files open.
	ReleaseAfter time.Duration
	// Host names this host (status, logs).
	Host string
	// SharedTimeout is how long the kernel keeps the entries and
	// attributes of names outside every per-user directory (shared.go).
	SharedTimeout time.Duration
	// Protocol, if set, returns the lease protocol's own counters by
	// name (status, metrics).
	Protocol func() map[string]uint64
	// Dead, if set, reports whether another host counts as dead
	// (*cluster.Leases.Dead): taking a user's lease then finishes that
	// host's unfinished changes of the user (settleUser). Unset, no
	// host's are.
	Dead func(host string) (bool, error)
}

// leaseSet is the mount's side of the leases: one userLease per user
// in use, and the worker that releases idle ones (leaseworker.go).
//
// A record lives while it is pinned: by every node pointing at it (from
// setUser until the node is forgotten), by every request or mover step
// that looked it up (get ... unpin), and while it is held, has files
// open or a failed hostchange pending. An unpinned free record is
// removed (free, leasepin.go), so memory follows the users served now,
// not every user seen since the mount. A record is removed only under
// mu, in the critical section that sees it unpinned, so get never hands
// out one being removed: one user never has two records.
type leaseSet struct {
	r     *Root
	l     Leases
	dirs  []*policy.Glob
	host  string
	proto func() map[string]uint64
	dead  func(host string) (bool, error) // ClusterOptions.Dead
	after time.Duration                   // ReleaseAfter
	slice time.Duration                   // how often a request stamps its user's activity
	base  time.Time                       // monotonic origin of the nanosecond stamps

	mu    sync.Mutex
	users map[userKey]*userLease // the records in use (pinned, held, or with state to keep)
	// held are the users acquired since the worker last found them
	// free: the worker, status and shutdown look at these, not at every
	// user this host ever served.
	held map[userKey]*userLease
	// loose are records whose last unpin could not free them at once
	// (their mu was busy): the worker tries again.
	loose map[userKey]*userLease
	// peak is the most entries each map had since it was last made
	// anew: a Go map keeps its buckets when entries go (shrinkMaps).
	peak [3]int

	counts leaseCounts
	// epochs numbers the cache epochs of every record: a record made
	// after another of its user was freed never reuses an epoch, so the
	// lookups cached under the old record are never served again.
	epochs atomic.Uint64
	seq    atomic.Uint64 // tells apart the names of set-aside directories (hostchange.go)
}

// leaseCounts are the mount's lease counters, for status and metrics.
type leaseCounts struct {
	acquired, released, refused, hostchanges, lost, dropErrors atomic.Uint64
}

type userKey struct{ hash, user string }

// userLease is one user's lease as this host sees it. The hot path of a
// request reads fresh alone: while the monotonic clock is below it, the
// lease is held and valid and the user's activity was stamped recently.
type userLease struct {
	s   *leaseSet
	key userKey

	fresh atomic.Int64 // stamp before which a request needs nothing more; 0: not held
	last  atomic.Int64 // stamp of the last request that reached the slow path
	opens atomic.Int64 // open files and directories beneath the user's directories
	epoch atomic.Uint64
	pins  atomic.Int64 // nodes and callers holding the record (leasepin.go)
	// gone: the record was freed (under mu and s.mu, final once it left
	// the map). A node the kernel revived after it was forgotten may
	// still point at it: its requests go to the user's live record.
	gone atomic.Bool

	mu     sync.Mutex // held to acquire, release or drop the lease
	state  int        // under mu: leaseFree, leaseHeld, leaseReleasing
	epoch0 uint64     // under mu: Leases.Epoch when acquired
	// undropped names the other host whose service of the user a
	// failed hostchange did not drop the state of yet (under mu).
	undropped string
	logged    int64 // under mu: stamp of the last refusal logged

	dmu  sync.Mutex
	dirs map[string]bool // the user's directories (mount paths) nodes were made for
}

func newLeaseSet(r *Root, o *ClusterOptions) *leaseSet {
	after := max(o.ReleaseAfter, 0)
	return &leaseSet{r: r, l: o.Leases, dirs: o.UserDirs, host: o.Host, proto: o.Protocol, dead: o.Dead, after: after,
		slice: max(after/8, time.Millisecond), base: time.Now(), users: map[userKey]*userLease{}, held: map[userKey]*userLease{},
		loose: map[userKey]*userLease{}}
}

// now is the monotonic clock in nanoseconds since base, never 0.
func (s *leaseSet) now() int64 { return int64(time.Since(s.base)) + 1 }

// stamp converts a monotonic time to the clock of now.
func (s *leaseSet) stamp(t time.Time) int64 { return int64(t.Sub(s.base)) + 1 }

// userOf returns the lease of the user whose directory p is or lies
// beneath, pinned (the caller unpins it); dir is that directory. nil
// outside every per-user directory.
func (s *leaseSet) userOf(p string) (u *userLease, dir string) {
	k, dir, ok := s.userKeyOf(p)
	if !ok {
		return nil, ""
	}
	return s.get(k), dir
}

// userKeyOf is userOf without making the lease.
func (s *leaseSet) userKeyOf(p string) (userKey, string, bool) {
	for _, g := range s.dirs {
		d, c, ok := g.UserDir(p)
		if !ok {
			continue
		}
		hash := c.Hash
		if hash == "" {
			hash = "_"
		}
		return userKey{hash, c.User}, d, true
	}
	return userKey{}, "", false
}

// get returns the lease of k, pinned (the caller unpins it), made if
// no record of k is in use.
func (s *leaseSet) get(k userKey) *userLease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(k)
}

// getLocked is get with s.mu held.
func (s *leaseSet) getLocked(k userKey) *userLease {
	u := s.users[k]
	if u == nil {
		u = &userLease{s: s, key: k, dirs: map[string]bool{}}
		u.epoch.Store(s.epochs.Add(1))
		s.users[k] = u
		s.peak[0] = max(s.peak[0], len(s.users))
	}
	u.pins.Add(1)
	return u
}

// heldUsers returns the users acquired since the worker last found them
// free.
func (s *leaseSet) heldUsers() []*userLease {
	s.mu.Lock()
	defer s.mu.Unlock()
	us := make([]*userLease, 0, len(s.held))
	for _, u := range s.held {
		us = append(us, u)
	}
	return us
}

// track adds u, just acquired, to the held users. Called with u.mu held.
func (s *leaseSet) track(u *userLease) {
	s.mu.Lock()
	s.held[u.key] = u
	s.peak[1] = max(s.peak[1], len(s.held))
	s.mu.Unlock()
}

// untrack drops u, found free, from the held users. Called with u.mu
// held, so that an acquisition cannot slip in between.
func (s *leaseSet) untrack(u *userLease) {
	s.mu.Lock()
	delete(s.held, u.key)
	s.mu.Unlock()
}

// addDir records that a node was made for the user's directory dir, so
// that its kernel entry can be dropped when the lease goes.
func (u *userLease) addDir(dir string) {
	u.dmu.Lock()
	u.dirs[dir] = true
	u.dmu.Unlock()
}

func (u *userLease) dirList() []string {
	u.dmu.Lock()
	defer u.dmu.Unlock()
	ds := make([]string, 0, len(u.dirs))
	for d := range u.dirs {
		ds = append(ds, d)
	}
	return ds
}

// use makes sure this host holds the user's lease before a request for
// the user is served. The hot path is one atomic load and a monotonic
// clock read.
func (u *userLease) use(ctx context.Context) syscall.Errno {
	if u.s.now() < u.fresh.Load() {
		return 0
	}
	return u.slow(ctx)
}

// slow stamps the user's activity and renews fresh while the lease is
// held and valid, or acquires it.
func (u *userLease) slow(ctx context.Context) syscall.Errno {
	u.mu.Lock()
	if u.gone.Load() {
		u.mu.Unlock()
		return u.forward(ctx)
	}
	defer u.mu.Unlock()
	s := u.s
	now := s.now()
	u.last.Store(now)
	if u.valid(now) {
		u.state = leaseHeld // a release in progress is called off
		u.fresh.Store(min(s.stamp(s.l.Valid()), now+int64(s.slice)))
		return 0
	}
	// The kernel cancels ctx when the waiting process gets any signal,
	// even one it handles and restarts the call after; failing then
	// would turn a timer or a child's exit into EIO. lease_wait bounds
	// the wait instead.
	if err := u.acquire(context.WithoutCancel(ctx)); err != nil {
		u.logRefusal(now, err)
		return syscall.EIO
	}
	now = s.now()
	u.last.Store(now)
	u.fresh.Store(min(s.stamp(s.l.Valid()), now+int64(s.slice)))
	return 0
}

// valid reports whether this host holds u's lease and may use it.
// Called with u.mu held.
func (u *userLease) valid(now int64) bool {
	l := u.s.l
	return u.state != leaseFree && now < u.s.stamp(l.Valid()) && u.epoch0 == l.Epoch()
}

// acquire takes u's lease and, after another host served the user,
// drops this host's state of the user before anything is served. A
// record on the tmpfs tiers says an acquisition is under way, so that a
// crash between the lease's write and the drop is settled at the next
// mount (the lease then says this host holds it, and a new Acquire
// would not report the other host again). Called with u.mu held.
func (u *userLease) acquire(ctx context.Context) error {
	s := u.s
	if err := s.r.markAcquiring(u.key); err != nil {
		s.counts.dropErrors.Add(1)
		return err
	}
	epoch := s.l.Epoch()
	prev, err := s.l.Acquire(ctx, u.key.hash, u.key.user)
	if err != nil {
		if u.undropped == "" {
			s.r.unmarkAcquiring(u.key)
		}
		s.counts.refused.Add(1)
		return err
	}
	s.counts.acquired.Add(1)
	if prev == "" {
		prev = u.undropped // a failed drop: this host's release hid the other host
	}
	if prev != "" {
		s.counts.hostchanges.Add(1)
		if err := s.r.hostchange(u, prev); err != nil {
			u.undropped = prev // the record stays too: the next mount drops the state
			u.release(ctx)     // nothing served; another host may take it
			return err
		}
	}
	u.undropped = ""
	s.r.unmarkAcquiring(u.key)
	u.state, u.epoch0 = leaseHeld, epoch
	s.track(u)
	if err := s.r.settleUser(u); err != nil {
		u.release(ctx) // nothing served half-done; the next request tries again
		return fmt.Errorf("%w: %w", errSettle, err)
	}
	return nil
}

// errSettle is the error of an acquisition that could not finish the
// user's unfinished changes first (settleUser).
var errSettle = errors.New("cannot finish the user's unfinished multi-tier changes")

// refusalLogEvery bounds the log lines about one user's refused lease.
const refusalLogEvery = 30 * time.Second

// logRefusal logs a refused lease, at most once per refusalLogEvery per
// user. Called with u.mu held.
func (u *userLease) logRefusal(now int64, err error) {
	if u.logged != 0 && now-u.logged < int64(refusalLogEvery) {
		return
	}
	u.logged = now
	u.s.r.log.Error("cluster: cannot take the user's lease; requests for the user fail with EIO",
		"hash", u.key.hash, "user", u.key.user, "err", err)
}

// release gives the lease up. Called with u.mu held.
func (u *userLease) release(ctx context.Context) {
	u.fresh.Store(0)
	u.state = leaseFree
	if err := u.s.l.Release(ctx, u.key.hash, u.key.user); err != nil && !errors.Is(err, context.Canceled) {
		u.s.r.log.Warn("cluster: cannot release the user's lease; other hosts wait for it to expire",
			"hash", u.key.hash, "user", u.key.user, "err", err)
		return
	}
	u.s.counts.released.Add(1)
}

// leased makes sure this host holds the lease of n's user, if n is at
// or beneath a per-user directory. Outside a cluster n.user is nil.
func (n *node) leased(ctx context.Context) syscall.Errno {
	_, e := n.leaseUser(ctx)
	return e
}

// leaseUser is leased, returning the user whose lease served: a file
// hard-linked into several users' trees has several (leaselinks.go).
func (n *node) leaseUser(ctx context.Context) (*userLease, syscall.Errno) {
	u := n.user
	if u == nil || u.s.now() < u.fresh.Load() {
		return u, 0 // the hot path of use
	}
	us, shared := n.r.linked.users(n.StableAttr(), u)
	if !shared && us == nil && !n.IsDir() && !u.holds() {
		var v *userLease
		if v, shared = n.nameUser(u); v != nil {
			defer v.s.unpin(v)
			us = []*userLease{u, v}
		}
	}
	switch {
	case shared:
		return nil, 0 // as through its shared name
	case us != nil:
		return anyLease(ctx, us)
	}
	return u, u.use(ctx)
}

// nameUser is the user of the name go-fuse now has for file n if that
// is not n's user u (pinned: the caller unpins it), else nil; shared
// reports a shared name. Only a linked file has such a name (a rename
// never carries one to another user), and the kernel reached it through
// that name under that user's lease, or none. The file's record of
// linked users says the same, but go-fuse may revive a node the kernel
// was forgetting, whose forget dropped the record; so a request on a
// file whose user's lease is not held here asks.
func (n *node) nameUser(u *userLease) (v *userLease, shared bool) {
	p, e := n.relPath()
	if e != 0 {
		return nil, false
	}
	v, _ = n.r.leases.userOf(p)
	switch {
	case v == nil:
		return nil, true
	case v.key == u.key:
		v.s.unpin(v)
		return nil, false
	}
	return v, false
}

// leasedChild is leased for a request naming child name of n: a child
// of a directory above the per-user directories may be one of them.
func (n *node) leasedChild(ctx context.Context, name string) syscall.Errno {
	if u := n.user; u != nil {
		return u.use(ctx)
	}
	if u := n.childUser(name); u != nil {
		e := u.use(ctx)
		u.s.unpin(u)
		return e
	}
	return 0
}

// childUser is the lease of child name of n when n is above the
// per-user directories and the child is one (nil otherwise), pinned:
// the caller unpins it.
func (n *node) childUser(name string) *userLease {
	s := n.r.leases
	if s == nil || n.user != nil {
		return nil
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil
	}
	u, _ := s.userOf(p)
	return u
}

// sameLease reports whether a rename of from to to keeps every name it
// moves under the lease it had: both lie beneath one user's directory,
// or both among the shared names and not above any per-user directory
// (a directory there may hold users' directories, which the rename
// would give to other users).
func (s *leaseSet) sameLease(from, to string) bool {
	kf, _, uf := s.userKeyOf(from)
	kt, _, ut := s.userKeyOf(to)
	if uf || ut {
		return uf && ut && kf == kt
	}
	for _, g := range s.dirs {
		if g.AboveUser(from) || g.AboveUser(to) {
			return false
		}
	}
	return true
}

// childIsUserDir reports whether child name of n, above the per-user
// directories, is one.
func (n *node) childIsUserDir(name string) bool {
	s := n.r.leases
	if s == nil || n.user != nil {
		return false
	}
	p, e := n.childPath(name)
	if e != 0 {
		return false
	}
	_, dir, ok := s.userKeyOf(p)
	return ok && dir == p
}

// setUser gives a new node the lease of its user, pinned until the node
// is forgotten (unpinUser): its parent's, or the one of the per-user
// directory it is.
func (n *node) setUser(parent *node, name string) {
	s := n.r.leases
	if s == nil {
		return
	}
	if parent.user != nil {
		n.user = s.pinLive(parent.user)
		n.state.Or(stUserPin)
		return
	}
	p, e := parent.childPath(name)
	if e != 0 {
		return
	}
	if u, dir := s.userOf(p); u != nil {
		n.user = u
		n.state.Or(stUserPin)
		u.addDir(dir)
	}
}

// addUserOpens counts d open handles on n for its user's activity.
func (n *node) addUserOpens(d int64) {
	if u := n.user; u != nil {
		u.addOpens(d)
	}
}

// addOpens counts d open handles beneath the user's directories. A
// record freed under a revived node (gone) counts nothing: the count
// goes to the user's live record, which it keeps from being freed. The
// add before the check of gone pairs with free's order (gone, then
// opens), so that one of them sees the other.
func (u *userLease) addOpens(d int64) {
	u.opens.Add(d)
	if u.gone.Load() {
		u.opens.Add(-d)
		v := u.s.pinLive(u)
		v.opens.Add(d)
		u.s.unpin(v)
		u.s.markLoose(u) // in case a free let u be for this add
	}
}

// LeaseStats are the mount's lease counters (status, metrics).
type LeaseStats struct {
	Host        string `json:"host"`
	Held        int    `json:"held"`        // users whose lease this host holds now
	Users       int    `json:"users"`       // users this host keeps a record of (held, or with nodes the kernel holds)
	Acquired    uint64 `json:"acquired"`    // leases taken
	Released    uint64 `json:"released"`    // leases given up when idle
	Refused     uint64 `json:"refused"`     // requests failed with EIO: another host held the user
	Hostchanges uint64 `json:"hostchanges"` // users another host had served since this host last did
	Lost        uint64 `json:"lost"`        // leases dropped because the heartbeat lapsed
	DropErrors  uint64 `json:"drop_errors"` // per-host state of a user that could not be removed
	// Protocol are the lease protocol's counters (waited, stolen from
	// dead hosts, heartbeat failures, ...).
	Protocol map[string]uint64 `json:"protocol,omitempty"`
}

func (s *leaseSet) stats() *LeaseStats {
	if s == nil {
		return nil
	}
	st := &LeaseStats{Host: s.host, Acquired: s.counts.acquired.Load(), Released: s.counts.released.Load(),
		Refused: s.counts.refused.Load(), Hostchanges: s.counts.hostchanges.Load(), Lost: s.counts.lost.Load(),
		DropErrors: s.counts.dropErrors.Load()}
	if s.proto != nil {
		st.Protocol = s.proto()
	}
	for _, u := range s.heldUsers() {
		if u.fresh.Load() != 0 {
			st.Held++
		}
	}
	st.Users = s.known()
	return st
}

// logger is the root's logger, for the worker.
func (s *leaseSet) logger() *slog.Logger { return s.r.log }
