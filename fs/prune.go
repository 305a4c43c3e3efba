package fs

import (
	"context"
	"log/slog"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// Pruner pacing.
const (
	// pruneTick is how often the pruner looks when nothing wakes it.
	pruneTick = time.Second
	// pruneGap follows a pass that asked the kernel to drop entries:
	// the FORGETs the kernel sends back must arrive before the count
	// says whether more is needed.
	pruneGap = 50 * time.Millisecond
	// auditEvery is how often every node on the ring is checked.
	auditEvery = 10 * time.Second
	// pinsFor is how long a scan for directories in use is trusted.
	pinsFor = time.Second
	// pruneBatch is the most node IDs sent in one FUSE_NOTIFY_PRUNE
	// (the kernel reads them 512 at a time).
	pruneBatch = 512
)

// pruner keeps the live nodes under the cap with a clock (second
// chance) sweep: a node used since the hand last passed it loses its
// referenced bit and stays; one that was not is asked to go.
//
// Where the kernel supports it (Linux 6.17+), the nodes of a pass go in
// FUSE_NOTIFY_PRUNE messages, by node ID: the kernel drops the entries
// of each inode that nothing uses and, if that frees the inode, sends
// FORGET, after which go-fuse frees the node (OnForget uncounts it). An
// entry in use (a working directory, an open file, a directory with
// entries cached below it) stays, so its node stays counted and on the
// ring, to be asked again on a later lap.
//
// Older kernels get FUSE_NOTIFY_INVAL_ENTRY on the node's parent, which
// drops the entry even while it is in use: directories in use in ways
// FUSE does not see are found by a scan of /proc (pinnedDirs) and left
// alone. The kernel evicts the inode once nothing uses it and sends
// FORGET.
//
// It runs on its own goroutine, never in a FUSE handler: the kernel
// takes the directory's lock to drop an entry, and a handler running
// under that lock would wait for itself. The ring and the hand belong to
// this goroutine alone.
type pruner struct {
	l     *liveNodes
	log   *slog.Logger
	ring  []*node // oldest first; nil where a node left
	holes int     // nil slots in ring
	hand  int

	// pruneNodes sends FUSE_NOTIFY_PRUNE (ENOSYS: the kernel has none);
	// notify sends FUSE_NOTIFY_INVAL_ENTRY.
	pruneNodes func(nodes []*gofs.Inode) syscall.Errno
	notify     func(parent *gofs.Inode, name string) syscall.Errno
	// byPrune: pruneNodes works (decided on the first pass).
	byPrune bool
	// batch and inodes hold the nodes a pass asks to prune, until sent.
	batch  []*node
	inodes []*gofs.Inode

	// scanPins lists the directories in use that FUSE does not see
	// (pinnedDirs); pins is its last answer, taken at pinsAt.
	scanPins func() map[string]bool
	pins     map[string]bool
	pinsAt   time.Time
}

// newPruner returns the pruner of the nodes l counts for the mount at
// mountpoint, whose root is root.
func newPruner(l *liveNodes, root *gofs.Inode, mountpoint string, log *slog.Logger) *pruner {
	mountpoint = canonical(mountpoint)
	return &pruner{
		l:          l,
		log:        log,
		pruneNodes: root.NotifyPrune,
		notify:     (*gofs.Inode).NotifyEntry,
		scanPins:   func() map[string]bool { return pinnedDirs(mountpoint) },
	}
}

// run prunes until ctx ends.
func (p *pruner) run(ctx context.Context) {
	tick := time.NewTicker(pruneTick)
	defer tick.Stop()
	audited := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-p.l.kick:
		}
		p.drain()
		if time.Since(audited) >= auditEvery {
			p.audit()
			audited = time.Now()
		}
		forgotten := p.l.forgotten.Load()
		var pause time.Duration
		dropped, want := p.prune()
		switch {
		case want == 0:
			continue
		case dropped < want:
			// Everything left is in use or cannot be dropped: wait
			// for the next tick rather than sweep for every new node.
			pause = pruneTick
		default:
			pause = pruneGap
		}
		if !sleep(ctx, pause) {
			return
		}
		// A prune is only a request: if the FORGETs that came back
		// are fewer than half the nodes asked for, most of them are
		// in use, and sweeping again at once would ask for them again.
		if pause == pruneGap && p.byPrune && 2*(p.l.forgotten.Load()-forgotten) < uint64(dropped) &&
			!sleep(ctx, pruneTick-pruneGap) {
			return
		}
	}
}

// sleep waits for d, reporting false if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// drain moves the new nodes onto the ring.
func (p *pruner) drain() {
	p.compact()
	for n := p.l.pending.Swap(nil); n != nil; {
		next := n.nextNew
		n.nextNew = nil
		p.ring = append(p.ring, n)
		n = next
	}
}

// target is the count a pass prunes down to once the cap is exceeded;
// the margin keeps the pruner from waking for every new node.
func (l *liveNodes) target() int64 { return l.max - l.max/16 }

// prune asks the kernel to drop nodes until the count is down to the
// target, looking at most two laps of the ring. It returns how many
// entries the kernel dropped (by prune: how many nodes it was asked to
// prune, as it does not say which it dropped) and how many it wanted to
// (0: the count is within the cap).
func (p *pruner) prune() (dropped, want int) {
	count := p.l.count.Load()
	if p.l.max == 0 || count <= p.l.max {
		return 0, 0
	}
	p.decide()
	want = int(count - p.l.target())
	for seen := 0; dropped+len(p.batch) < want && seen < 2*len(p.ring); seen++ {
		if p.hand >= len(p.ring) {
			p.hand = 0
		}
		i := p.hand
		p.hand++
		switch n := p.ring[i]; {
		case n == nil:
		case p.dead(n):
			p.remove(i)
		case !p.candidate(n):
		case p.byPrune:
			// It stays on the ring: its FORGET takes it off (dead),
			// or, if the kernel keeps it, the hand finds it again.
			if p.ask(n) && len(p.batch) == pruneBatch {
				dropped += p.flush()
			}
		case p.evict(n):
			// The kernel forgets it in a moment; if something still
			// holds it, its next request puts it back (touch).
			n.state.And(^stTracked)
			p.remove(i)
			dropped++
		}
	}
	dropped += p.flush()
	p.compact()
	return dropped, want
}

// decide picks, on the first pass, how to ask the kernel to drop nodes:
// FUSE_NOTIFY_PRUNE if the kernel has it (an empty one costs nothing),
// else FUSE_NOTIFY_INVAL_ENTRY.
func (p *pruner) decide() {
	if p.l.method.Load() != methodUndecided {
		return
	}
	m, how := methodPrune, "FUSE_NOTIFY_PRUNE: the kernel drops only entries nothing uses"
	if p.pruneNodes(nil) == syscall.ENOSYS {
		m, how = methodEntry, "entry invalidation (FUSE_NOTIFY_INVAL_ENTRY; the kernel has no FUSE_NOTIFY_PRUNE, Linux 6.17+): directories in use are found by a scan of /proc"
	}
	p.byPrune = m == methodPrune
	p.l.method.Store(m)
	if p.log != nil {
		p.log.Info("node cap: pruning nodes by "+how, "max_nodes", p.l.max)
	}
}

// dead reports whether n left the count (go-fuse dropped it), taking it
// off the ring's books if so. A node counted again meanwhile stays.
func (p *pruner) dead(n *node) bool {
	s := n.state.Load()
	return s&stLive == 0 && n.state.CompareAndSwap(s, s&^stTracked)
}

// candidate reports whether n may be dropped now: not used since the
// hand last passed (it loses its second chance here), not asked for on
// the last lap (the kernel refused, or its FORGET is on the way), and
// without open handles, which the kernel holds anyway (and a file's
// dentry must keep its name while open).
func (p *pruner) candidate(n *node) bool {
	s := n.state.Load()
	switch {
	case s&stRef != 0:
		n.state.And(^stRef)
		return false
	case s&stNotified != 0:
		n.state.And(^stNotified)
		return false
	}
	return n.opens.Load() == 0
}

// eligible reports whether the kernel may be asked to drop n, and its
// name and parent. A node without a name (unlinked, replaced by a
// rename, or not in go-fuse's tree yet) is not asked for. A directory
// goes only once go-fuse holds none of its children (the kernel drops a
// directory's whole cached subtree with it, which would skip the
// children's second chance; a prune leaves it anyway).
func (p *pruner) eligible(n *node) (string, *gofs.Inode, bool) {
	name, parent := n.Parent()
	if parent == nil || (n.IsDir() && len(n.Children()) > 0) {
		return "", nil, false
	}
	return name, parent, true
}

// ask puts n in the batch to prune, if it is eligible.
func (p *pruner) ask(n *node) bool {
	if _, _, ok := p.eligible(n); !ok {
		return false
	}
	n.state.Or(stNotified | stAsked)
	p.batch = append(p.batch, n)
	return true
}

// flush sends the batch in one FUSE_NOTIFY_PRUNE and returns how many
// nodes it asked for.
func (p *pruner) flush() int {
	if len(p.batch) == 0 {
		return 0
	}
	for _, n := range p.batch {
		p.inodes = append(p.inodes, n.EmbeddedInode())
	}
	asked := len(p.batch)
	if errno := p.pruneNodes(p.inodes); errno != 0 {
		for _, n := range p.batch {
			n.state.And(^stAsked) // its FORGET would not be the prune's
		}
		if p.log != nil {
			p.log.Warn("node cap: FUSE_NOTIFY_PRUNE failed", "nodes", asked, "err", errno)
		}
		asked = 0
	}
	clear(p.batch)
	clear(p.inodes)
	p.batch, p.inodes = p.batch[:0], p.inodes[:0]
	return asked
}

// evict asks the kernel to drop n's entry and reports whether it did.
// A directory also stays while it is in use in a way FUSE does not see:
// the kernel would drop its entry anyway.
func (p *pruner) evict(n *node) bool {
	name, parent, ok := p.eligible(n)
	if !ok || (n.IsDir() && p.pinned(n)) {
		return false
	}
	n.state.Or(stNotified)
	if p.notify(parent, name) != 0 {
		return false // the kernel holds no such entry (another name of a hard link)
	}
	p.l.pruned.Add(1)
	return true
}

// pinned reports whether directory n is a process's working or root
// directory or a mount point, from a scan at most pinsFor old.
func (p *pruner) pinned(n *node) bool {
	if p.scanPins == nil {
		return false
	}
	if time.Since(p.pinsAt) > pinsFor {
		p.pins, p.pinsAt = p.scanPins(), time.Now()
	}
	rel, e := n.relPath()
	return e != 0 || p.pins[rel]
}

// remove takes the node in ring slot i out.
func (p *pruner) remove(i int) {
	p.ring[i] = nil
	p.holes++
}

// compact closes the ring's holes once they are half of it, keeping the
// order and the hand's place.
func (p *pruner) compact() {
	if p.holes == 0 || p.holes < len(p.ring)/2 {
		return
	}
	out := p.ring[:0]
	hand := 0
	for i, n := range p.ring {
		if i == p.hand {
			hand = len(out)
		}
		if n != nil {
			out = append(out, n)
		}
	}
	clear(p.ring[len(out):])
	p.ring, p.hand, p.holes = out, hand, 0
	if cap(p.ring) > 1024 && cap(p.ring) > 4*len(p.ring) {
		p.ring = append(make([]*node, 0, 2*len(p.ring)), p.ring...)
	}
}

// audit checks every node on the ring. It drops the ones go-fuse freed
// and uncounts the ones go-fuse never took: when two lookups build a
// node for one inode (two names of a hard link), go-fuse keeps one and
// discards the other without OnForget. Such a node has no kernel
// reference and no parent on two audits in a row (on one, it may be
// between a handler's return and go-fuse registering it).
func (p *pruner) audit() {
	for i, n := range p.ring {
		if n == nil {
			continue
		}
		s := n.state.Load()
		//lint:ignore SA1019 OnForget reports the nodes go-fuse frees; only Forgotten shows a node it never took.
		gone := s&stLive != 0 && n.Forgotten()
		switch {
		case gone && s&stSuspect != 0:
			p.l.untrack(n)
			n.unpinUser() // go-fuse never took it: no OnForget comes
		case gone:
			n.state.Or(stSuspect)
		case s&stSuspect != 0:
			n.state.And(^stSuspect)
		}
		if p.dead(n) {
			p.remove(i)
		}
	}
	p.compact()
}
