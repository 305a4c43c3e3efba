// Package fs is the tierfs node tree: one namespace over several tiers.
// Lookups ask the tiers that hold the parent directory, in the order the
// placement rules give for the name; new files go to the tier of the
// first matching rule; renames and links never move data.
package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/internal/fuseserver"
	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// Options configure a Root.
type Options struct {
	Tiers     []*tiers.Tier // in config order; index = Tier.Index
	Placement *policy.Placement
	Logger    *slog.Logger

	// CacheSize bounds the metadata cache's heap in bytes, the name
	// indexes of directories (names.go) included: they take a quarter.
	// 0, or a size too small to be worth it, turns both off. They are
	// kept only for directories on nfs tiers, so without one there are
	// none.
	CacheSize int64

	// MaxNodes caps the nodes kept for inodes the kernel holds: above
	// it, the least recently used are dropped from the kernel's caches
	// (and so from memory). 0 is no cap.
	MaxNodes int64

	// MoveTargets are the tiers the mover may move files to.
	MoveTargets []int

	// CrashPoint names a step at which the daemon kills itself with
	// SIGKILL; tests use it to prove crash safety. Empty in production.
	CrashPoint string

	// PausePoint names a step at which the daemon waits PauseFor, so a
	// test can act in the middle of a multi-step change.
	PausePoint string
	PauseFor   time.Duration

	// Cluster, when set, puts the mount in a cluster: every request at
	// or beneath a per-user directory needs that user's lease.
	Cluster *ClusterOptions
}

// Root is the state shared by every node of one mount.
type Root struct {
	tiers   []*tiers.Tier
	place   atomic.Pointer[placing]
	log     *slog.Logger
	crash   string
	pause   string
	pauseD  time.Duration
	journal *journal
	root    *node
	stale   staleOps    // renames and links of files a rebalance has not moved
	kept    keptNodes   // nodes holding a kept link, by identity (replaced.go)
	linked  linkedUsers // users whose names reach a hard-linked file (leaselinks.go)

	cache    *lookupCache
	nodes    *liveNodes
	requests requestCounts
	moves    moves
	// openFiles counts open handles by inode number, which several
	// nodes of a moved file share (see openFiles).
	openFiles openFiles
	// tree is held for writing while a directory is renamed on its tiers
	// one after another, and for reading while a move commits: a move
	// never places its copy in a directory that has moved on some tiers
	// and not yet on others.
	tree sync.RWMutex
	// dirCopies is held for writing while the mover copies a directory
	// to another tier (CopyDir) and for reading by rmdir, so that an
	// rmdir never misses the new copy.
	dirCopies   sync.RWMutex
	moveTargets atomic.Uint64 // tiers that may hold moved files (inode numbers kept in an xattr); see AddMoveTargets
	cacheTiers  uint64        // tiers of kind nfs: lookups there go through the metadata cache
	// The name indexes of directories (names.go): their bytes, their
	// budget (0: none), an epoch that a tier's change of health bumps,
	// and how many lookups they answered.
	nameBytes   atomic.Int64
	nameBudget  int64
	nameEpoch   atomic.Uint64
	nameAbsent  atomic.Uint64
	nosuid      atomic.Bool
	attrTimeout time.Duration // for SETATTR replies, which go-fuse leaves at 0
	space       spaceState    // shortness last logged, overflow counts
	spilled     []*spilledSet // by tier: new files spilled to their rule's demote_to tier
	leases      *leaseSet     // nil outside a cluster
	sharedTTL   time.Duration // kernel timeouts of shared names (shared.go)
	// notifyEntry drops a kernel entry (a field so that unit tests,
	// which mount nothing, can do without).
	notifyEntry func(dir *gofs.Inode, name string)
}

// NewRoot checks the options, settles what a crash left on the tiers
// (Recover) and returns the root of the tree, ready to mount.
func NewRoot(ctx context.Context, o Options) (*Root, error) {
	r, err := newRoot(o)
	if err != nil {
		return nil, err
	}
	done, err := r.recover()
	if err == nil {
		err = replayErr(done)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	for _, t := range o.Tiers {
		r.spilled = append(r.spilled, openSpilled(t, r.log))
	}
	return r, nil
}

// Recover does to the tiers what a mount does before it serves: it
// removes the temporaries of interrupted moves and the links kept for
// replaced files, and finishes the journal's intents. It returns every
// intent it replayed; one it could not settle stays in the journal and
// carries its error. The tiers must be locked and not mounted: tierfs
// check --repair runs it so that it finishes the intents with the
// mount's own code.
func Recover(o Options) ([]Replayed, error) {
	o.CacheSize, o.MaxNodes = 0, 0 // nothing is served
	r, err := newRoot(o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.recover()
}

// newRoot checks the options and builds the root, touching no tier.
func newRoot(o Options) (*Root, error) {
	if len(o.Tiers) == 0 || len(o.Tiers) > maxTiers {
		return nil, fmt.Errorf("tierfs needs 1 to %d tiers, got %d", maxTiers, len(o.Tiers))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Placement == nil || o.Placement.NumTiers() != len(o.Tiers) {
		return nil, fmt.Errorf("placement rules do not match the %d tiers", len(o.Tiers))
	}
	pl := newPlacing(o.Placement)
	r := &Root{tiers: o.Tiers, log: o.Logger, crash: o.CrashPoint, pause: o.PausePoint, pauseD: o.PauseFor,
		space: newSpaceState(len(o.Tiers))}
	r.place.Store(pl)
	r.notifyEntry = func(dir *gofs.Inode, name string) { dir.NotifyEntry(name) }
	if o.Cluster != nil {
		if o.Cluster.Leases == nil || len(o.Cluster.UserDirs) == 0 {
			return nil, fmt.Errorf("cluster: leases and per-user directories are required")
		}
		r.leases = newLeaseSet(r, o.Cluster)
		r.sharedTTL = sharedTimeout(o.Cluster.SharedTimeout)
		for _, t := range o.Tiers {
			if t.Kind != tiers.KindTmpfs {
				t.SetDirCacheFilter(r.leases.cacheableDir)
			}
		}
	}
	for ti, t := range o.Tiers {
		if t.Kind == tiers.KindNFS {
			r.cacheTiers |= bit(ti)
		}
	}
	if r.cacheTiers != 0 { // else nothing would ever be cached
		names := o.CacheSize / 4
		cache, err := newLookupCache(o.CacheSize - names)
		if err != nil {
			return nil, fmt.Errorf("metadata cache: %w", err)
		}
		r.cache = cache
		if cache != nil {
			r.nameBudget = names
		}
	}
	r.nodes = newLiveNodes(o.MaxNodes)
	r.AddMoveTargets(o.MoveTargets)
	r.root = &node{r: r}
	r.root.dirs.Store(allTiers(len(o.Tiers)))
	return r, nil
}

// recover opens the journal, clears what a crash left in tierfs's own
// directories and replays the journal.
func (r *Root) recover() ([]Replayed, error) {
	j, err := openJournal(journalTier(r.tiers))
	if err != nil {
		return nil, err
	}
	r.journal = j
	if err := prepareKept(r.tiers); err != nil {
		return nil, err
	}
	for _, t := range r.tiers {
		if err := t.ClearMoving(); err != nil {
			return nil, err
		}
		if err := r.settleTmpfs(t); err != nil {
			return nil, err
		}
	}
	return r.replay()
}

// journalTier is the first persistent tier (tmpfs if there is none).
func journalTier(ts []*tiers.Tier) *tiers.Tier {
	for _, t := range ts {
		if t.Persistent() {
			return t
		}
	}
	return ts[0]
}

// MountOptions are the kernel-facing settings of a mount.
type MountOptions struct {
	fuse.MountOptions
	Transport       Transport // "" is TransportDev
	EntryTimeout    time.Duration
	AttrTimeout     time.Duration
	NegativeTimeout time.Duration
}

// Mount mounts r at mountpoint over the transport mo names and starts
// the tier health monitor; it returns once the kernel answers requests
// on the mount.
func (r *Root) Mount(ctx context.Context, mountpoint string, mo MountOptions) (Server, error) {
	if mo.Transport == "" {
		mo.Transport = TransportDev
	}
	if err := CheckTransport(mo.Transport, os.Geteuid() == 0); err != nil {
		return nil, fmt.Errorf("mount %s: transport %s: %w", mountpoint, mo.Transport, err)
	}
	mo.MountOptions.PanicHandler = func(v any) fuse.Status {
		r.log.Error("panic in a FUSE handler; answered EIO", "panic", fmt.Sprint(v))
		return fuse.EIO
	}
	if mo.Name == "" {
		mo.Name = "tierfs"
	}
	// Adaptive READDIRPLUS: the kernel asks for it on a listing's first
	// page, and on later pages only after lookups in the directory. A
	// plus entry costs a backend stat, so dirHandle.Lookup answers known
	// nodes with one stat and entries on nfs tiers with none.
	mo.ExtraCapabilities |= fuse.CAP_READDIRPLUS_AUTO
	if mo.DirectMountFlags&syscall.MS_NOSUID != 0 {
		// Without it the kernel asks for security.capability before
		// every write (one round trip each, even with passthrough). The
		// server then owns clearing set-id bits on write; on a nosuid
		// mount those bits have no effect, so that is safe to skip.
		mo.ExtraCapabilities |= fuse.CAP_HANDLE_KILLPRIV_V2
		r.nosuid.Store(true)
	}
	r.attrTimeout = mo.AttrTimeout
	opts := &gofs.Options{
		MountOptions:    mo.MountOptions,
		EntryTimeout:    &mo.EntryTimeout,
		AttrTimeout:     &mo.AttrTimeout,
		NegativeTimeout: &mo.NegativeTimeout,
		NullPermissions: true,
		RootStableAttr:  &gofs.StableAttr{Ino: 1},
	}
	var ring *fuseserver.Server
	if mo.Transport == TransportURing {
		// The node tree sends its notifications and passthrough
		// registrations to the server (go-fuse's own server installs
		// itself in Init).
		ring = fuseserver.New()
		opts.ServerCallbacks = ring
	}
	syscall.Umask(0) // the kernel already applied the caller's umask
	raw := countingFS{RawFileSystem: gofs.NewNodeFS(r.root, opts), c: &r.requests}
	srv, err := serve(raw, ring, mountpoint, opts.MountOptions)
	if err != nil {
		return nil, err
	}
	go tiers.Monitor(ctx, r.tiers, healthInterval, healthTimeout, r.onHealthChange)
	go r.watchSpace(ctx, healthInterval)
	r.watchClocks(ctx)
	p := newPruner(r.nodes, r.root.EmbeddedInode(), mountpoint, r.log)
	if ring != nil {
		p.pruneNodes = pruneOver(ring)
	}
	go p.run(ctx)
	if r.leases != nil {
		go r.leases.run(ctx)
		go r.settleOutsideLoop(ctx)
	}
	return srv, nil
}

// Health probing: a tier that vanishes or hangs turns into EIO within
// about healthInterval+healthTimeout.
const (
	healthInterval = 500 * time.Millisecond
	healthTimeout  = 2 * time.Second
)

// crashAt kills the process at a named step when a test asked for it,
// or holds it there for a while. attrs (key, value pairs such as the
// path being moved) go into the log line, so that a test can tell which
// file is held. They are strings, made into log values only at a
// reached point: some steps are on a handler's path (a lookup of a
// known node), where boxing them would allocate on every request.
func (r *Root) crashAt(point string, attrs ...string) {
	if r.pause != "" && r.pause == point {
		args := []any{"point", point, "for", r.pauseD}
		for _, a := range attrs {
			args = append(args, a)
		}
		r.log.Warn("pause point reached", args...)
		time.Sleep(r.pauseD)
	}
	if r.crash != "" && r.crash == point {
		r.log.Warn("crash point reached; killing the daemon", "point", point)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

func (r *Root) placement() *policy.Placement { return r.place.Load().p }

// SetPlacement replaces the placement rules (a new file whose rule's
// tier is short goes to the rule's demote_to tier first) on SIGHUP.
// Files already placed stay where they are; new files follow the new
// rules.
func (r *Root) SetPlacement(p *policy.Placement) error {
	if p == nil || p.NumTiers() != len(r.tiers) {
		return fmt.Errorf("new rules must use the same %d tiers", len(r.tiers))
	}
	r.place.Store(newPlacing(p))
	return nil
}

// cacheStats reports the metadata cache's hits and misses.
func (r *Root) cacheStats() CacheStats {
	s := r.cache.stats()
	s.Absent, s.IndexBytes, s.IndexBudget = r.nameAbsent.Load(), r.nameBytes.Load(), r.nameBudget
	return s
}

// Close releases what the root holds beyond the tiers.
func (r *Root) Close() {
	r.cache.close()
	for _, s := range r.spilled {
		s.close()
	}
}
