package fs

import (
	"sync/atomic"
)

// go-fuse keeps a node for every inode the kernel holds, and the kernel
// holds inodes until memory pressure makes it let go: with millions of
// mail files looked up, the daemon would grow without bound. liveNodes
// counts those nodes; the pruner (prune.go) asks the kernel to drop the
// least recently used ones when there are more than the cap.
//
// The hot path touches only the node's own state word: a request sets
// the node's referenced bit (one atomic load when it is already set),
// and a new node is pushed on a lock-free list that the pruner drains.
// Nothing per request takes a lock or walks a list.

// Bits of node.state.
const (
	stRef      uint32 = 1 << iota // used since the pruner last passed it
	stLive                        // counted in liveNodes.count
	stTracked                     // on the pruner's ring or on the pending list
	stNotified                    // the pruner asked the kernel to drop it
	stSuspect                     // go-fuse did not hold it when last checked
	stAsked                       // pruned by node ID and unused since: its FORGET counts as pruned
	stUserPin                     // the node pins its user's lease record (leasepin.go)

	// stStale are the bits a request on the node clears.
	stStale = stNotified | stSuspect | stAsked
)

// How the pruner asks the kernel to drop nodes (liveNodes.method).
const (
	methodUndecided int32 = iota // nothing pruned yet
	methodPrune                  // FUSE_NOTIFY_PRUNE with node IDs (Linux 6.17+)
	methodEntry                  // FUSE_NOTIFY_INVAL_ENTRY on the parent, older kernels
)

// The methods as NodeStats.Method names them.
const (
	PruneMethodPrune = "prune"
	PruneMethodEntry = "inval_entry"
)

var methodNames = [...]string{methodPrune: PruneMethodPrune, methodEntry: PruneMethodEntry}

// liveNodes counts the nodes go-fuse holds for this mount.
type liveNodes struct {
	max       int64 // the cap; 0: none
	count     atomic.Int64
	pruned    atomic.Uint64 // entries (or nodes, by prune) the kernel dropped when asked
	forgotten atomic.Uint64 // nodes freed after the kernel's FORGET
	method    atomic.Int32  // method*: how the pruner asks

	// pending holds new nodes, linked by node.nextNew, until the
	// pruner moves them to its ring.
	pending atomic.Pointer[node]
	// kick wakes the pruner when a new node takes the count over max.
	kick chan struct{}
}

func newLiveNodes(maxNodes int64) *liveNodes {
	return &liveNodes{max: max(maxNodes, 0), kick: make(chan struct{}, 1)}
}

// touch marks n as used, for the pruner's second chance. Most calls
// find it marked and write nothing, so hot nodes cost no cache-line
// traffic. A request also proves go-fuse holds n, so a node the pruner
// let go of while the kernel kept it is counted and tracked again.
func (n *node) touch() {
	const want = stRef | stLive | stTracked
	if n.state.Load()&(want|stStale) != want && n != n.r.root {
		n.r.nodes.track(n)
	}
}

// track records that n is (again) a node go-fuse holds for the kernel:
// a new one, or a known one a lookup returns. It counts n once however
// often it is called, and hands it to the pruner once.
func (l *liveNodes) track(n *node) {
	const want = stRef | stLive | stTracked
	for {
		s := n.state.Load()
		if s&(want|stStale) == want {
			return
		}
		if !n.state.CompareAndSwap(s, (s|want)&^stStale) {
			continue
		}
		if s&stTracked == 0 {
			l.push(n)
		}
		if s&stLive == 0 && l.count.Add(1) > l.max && l.max > 0 {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
		return
	}
}

// push puts n on the pending list.
func (l *liveNodes) push(n *node) {
	for {
		head := l.pending.Load()
		n.nextNew = head
		if l.pending.CompareAndSwap(head, n) {
			return
		}
	}
}

// untrack uncounts n: go-fuse no longer holds it. It reports whether n
// was counted, so that a node is uncounted once.
func (l *liveNodes) untrack(n *node) bool {
	_, ok := l.uncount(n)
	return ok
}

// uncount is untrack, also returning n's state bits before.
func (l *liveNodes) uncount(n *node) (uint32, bool) {
	for {
		s := n.state.Load()
		if s&stLive == 0 {
			return s, false
		}
		if n.state.CompareAndSwap(s, s&^(stLive|stStale)) {
			l.count.Add(-1)
			return s, true
		}
	}
}

// forget is OnForget's part: the kernel forgot n and go-fuse dropped it.
// A node the pruner asked the kernel to prune, and that no request used
// since, counts as pruned now: FUSE_NOTIFY_PRUNE does not say which
// nodes the kernel dropped.
func (l *liveNodes) forget(n *node) {
	if s, ok := l.uncount(n); ok {
		l.forgotten.Add(1)
		if s&stAsked != 0 {
			l.pruned.Add(1)
		}
	}
}

func (l *liveNodes) stats() NodeStats {
	return NodeStats{Live: l.count.Load(), Max: l.max, Pruned: l.pruned.Load(), Forgotten: l.forgotten.Load(),
		Method: methodNames[l.method.Load()]}
}
