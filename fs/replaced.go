package fs

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// KeptDir holds, on each tier, an extra hard link to every file whose
// last name was replaced by a rename while the kernel still knew its
// inode. A process that looked the name up just before the rename then
// still opens the old file, as on a native filesystem, instead of getting
// ESTALE. The link goes when the kernel forgets the inode; leftovers from
// a crash are only extra links and are removed at mount. On a shared
// tier each host has its own (Tier.StateName): another host's links
// belong to files its kernel still knows.
const KeptDir = ".tierfs-replaced"

// prepareKept makes this daemon's directory of kept links on every tier
// and empties it.
func prepareKept(ts []*tiers.Tier) error {
	for _, t := range ts {
		dir := t.StateName(KeptDir)
		if err := t.Mkdir(dir, 0o700, nil); err != nil && err != unix.EEXIST {
			return fmt.Errorf("tier %q: create %s: %w", t.Name, dir, err)
		}
		ents, err := t.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("tier %q: list %s: %w", t.Name, dir, err)
		}
		for _, d := range ents {
			t.Unlink(dir + "/" + d.Name)
		}
	}
	return nil
}

// keepReplaced links the file at p on tier ti into KeptDir when the
// kernel knows it as node old, so that old stays openable after a
// rename replaces p.
func (r *Root) keepReplaced(ti int, p string, old *node) {
	if old == nil || old.IsDir() || int(old.tier.Load()) != ti {
		return
	}
	kp := fmt.Sprintf("%s/%016x", r.tiers[ti].StateName(KeptDir), rand.Uint64())
	if err := r.tiers[ti].Link(p, kp); err != nil {
		return // best effort: without it a racing open gets ESTALE
	}
	if prev := old.kept.Swap(&kp); prev != nil {
		r.tiers[ti].Unlink(*prev)
	}
	r.kept.add(old)
}

// keptNodes indexes the nodes that hold a kept link by their identity.
// A lookup of another name of such a file (a hard link, or a name
// another host gave it) builds a new node, which go-fuse swaps for the
// one it holds only after the lookup answered; the link count the
// lookup answers must leave that node's kept link out all the same.
type keptNodes struct {
	count atomic.Int32 // entries: with none, the usual case, no lock
	mu    sync.RWMutex
	m     map[gofs.StableAttr]*node
}

func (k *keptNodes) add(n *node) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[gofs.StableAttr]*node{}
	}
	k.m[n.StableAttr()] = n
	k.count.Store(int32(len(k.m)))
}

func (k *keptNodes) drop(n *node) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if id := n.StableAttr(); k.m[id] == n {
		delete(k.m, id)
		k.count.Store(int32(len(k.m)))
	}
}

// holds reports whether a node with identity id holds a kept link.
func (k *keptNodes) holds(id gofs.StableAttr) bool {
	if k.count.Load() == 0 {
		return false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	n := k.m[id]
	return n != nil && n.kept.Load() != nil
}

// OnForget uncounts the node go-fuse is about to free and drops the kept
// link of a replaced file once the kernel no longer references it.
func (n *node) OnForget() {
	if n != n.r.root {
		n.r.nodes.forget(n)
	}
	n.unpinUser()
	n.r.linked.drop(n.StableAttr())
	n.dropNameIndex()
	if kp := n.kept.Swap(nil); kp != nil {
		n.tierOf().Unlink(*kp)
		n.r.kept.drop(n)
	}
}

// dataPath is where the node's data can be reached: its kept link once
// its name was replaced (the kernel may still ask about it under the old
// name for a moment), else its path in the tree.
func (n *node) dataPath() (string, syscall.Errno) {
	if kp := n.kept.Load(); kp != nil {
		return *kp, 0
	}
	return n.relPath()
}

// hideKept leaves the kept link out of the link count in a, an
// attribute of n's data: the link is tierfs's own, and programs count
// names (Dovecot checks st_nlink after link(); fstat of a file replaced
// by rename shows 0 natively). The mover reads the tier directly and so
// still sees it: a file with a kept link is not moved, which its kept
// path on the old tier needs. floor is the number of names the caller
// knows to exist (a lookup found one), so a race with a rename never
// makes the count drop below it.
func (n *node) hideKept(a *fuse.Attr, floor uint32) {
	if n.kept.Load() != nil && a.Nlink > floor {
		a.Nlink--
	}
}

// hideKeptNew is hideKept for a node a lookup or create just built, which
// go-fuse swaps for the node it already holds for the same file, if any,
// once the handler answered: that node's kept link is left out too.
func (n *node) hideKeptNew(a *fuse.Attr, floor uint32) {
	if a.Nlink > floor && (n.kept.Load() != nil || n.r.kept.holds(n.StableAttr())) {
		a.Nlink--
	}
}
