package fs

import (
	"sync"

	"github.com/tierfs/tierfs/tiers"
)

// A directory on nfs tiers can carry a name index: every name it holds
// on its tiers, learned from a listing and kept up to date by tierfs's
// own changes. A lookup of a name outside the index is answered "no
// such file" without a network round trip. That is the common lookup
// of a mail server: every delivery and every flag change looks up a
// name that does not exist yet (the file in tmp/, its name in new/ and
// in cur/), and on NFS each of those was a LOOKUP to the server before
// the kernel's own one for the create or rename.
//
// tierfs is the only writer of its tiers, so it sees every name come
// and go. The index may hold names that are gone (it is only asked
// about absence), never miss one that exists: every change of a name
// reaches it through node.forget once the tiers have it, and a listing
// is kept only if no change was recorded since before it was read (a
// change recorded after it is kept is added to it).
//
// A listing is of the path the node has when it is read, so it is read
// under Root.tree, which every directory rename holds, and kept only if
// every copy was found there: a directory renamed just before, whose
// node go-fuse has not moved yet, is missing at the path it left. A
// directory may also have two nodes (its inode number comes from the
// copy first in its path's rule order when that copy cannot keep the
// directory's identity, on NFS: see dirid.go); changes reach only the
// node under the name, so a node that loses its name to another never
// keeps an index again (abandonNames).

const (
	// maxIndexNames is the largest directory indexed: a big cur/ is
	// listed whole by the client anyway, and one directory must not
	// take the budget of all the others.
	maxIndexNames = 4096
	// nameBytes is the heap a name takes in the index beside its bytes:
	// a map slot with the string header, with room for the map's growth.
	nameBytes = 48
	// indexAfterMisses is how many lookups of missing names a directory
	// sees before tierfs lists it to build its index. Dovecot lists
	// new/ and cur/ itself, which builds theirs for free; tmp/ is only
	// ever created in.
	indexAfterMisses = 2
)

// nameIndex is a directory's names, or the bookkeeping to build them.
type nameIndex struct {
	mu     sync.Mutex
	gen    uint64              // bumped by every change of a name
	names  map[string]struct{} // nil: not built
	mask   uint64              // the directory's tiers when names was read
	epoch  uint64              // Root.nameEpoch when names was read
	bytes  int64               // what names is charged to Root.nameBytes
	misses int                 // lookups of missing names while names was nil
	tooBig bool                // a listing found more than maxIndexNames
	dead   bool                // the node lost its name to another node: see abandonNames
}

// listingStart is what learnNames needs to know of the moment a listing
// began: the index's generation and the tiers' health epoch.
type listingStart struct{ gen, epoch uint64 }

// nameIndexOf returns n's index, making it if create is set.
func (n *node) nameIndexOf(create bool) *nameIndex {
	if ix := n.index.Load(); ix != nil || !create {
		return ix
	}
	n.index.CompareAndSwap(nil, &nameIndex{})
	return n.index.Load()
}

// absent reports whether n's index shows that name is in none of n's
// copies.
func (n *node) absent(name string) bool {
	ix := n.index.Load()
	if ix == nil {
		return false
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.names == nil {
		return false
	}
	if ix.mask != n.dirs.Load() || ix.epoch != n.r.nameEpoch.Load() {
		n.r.dropNames(ix) // a copy appeared on another tier, or a tier's health changed
		return false
	}
	if _, ok := ix.names[name]; ok {
		return false
	}
	n.r.nameAbsent.Add(1)
	return true
}

// nameChanged records that name may exist in n now. forget calls it
// after every change of a name.
func (n *node) nameChanged(name string) {
	ix := n.index.Load()
	if ix == nil {
		return // no index and no listing being read for one
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++
	if ix.names == nil {
		return
	}
	if _, ok := ix.names[name]; ok {
		return
	}
	if len(ix.names) >= maxIndexNames || !n.r.chargeNames(nameCost(name)) {
		n.r.dropNames(ix)
		return
	}
	ix.names[name] = struct{}{}
	ix.bytes += nameCost(name)
}

// nameGone records that name is in none of n's copies any more.
func (n *node) nameGone(name string) {
	ix := n.index.Load()
	if ix == nil {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++
	if _, ok := ix.names[name]; ok {
		delete(ix.names, name)
		ix.bytes -= nameCost(name)
		n.r.nameBytes.Add(-nameCost(name))
	}
}

// nameMissed counts a lookup that found a name nowhere in n, and builds
// the index once a directory has seen indexAfterMisses of them. The
// caller holds n.names for reading.
func (n *node) nameMissed() {
	if n.lookupCache() == nil || n.r.nameBudget == 0 {
		return
	}
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	ix.misses++
	build := ix.names == nil && !ix.tooBig && !ix.dead && ix.misses >= indexAfterMisses
	start, mask := listingStart{ix.gen, n.r.nameEpoch.Load()}, n.dirs.Load()
	ix.mu.Unlock()
	if !build || n.r.nameBytes.Load() >= n.r.nameBudget {
		return
	}
	// Never wait for Root.tree here: a rename holds it before the name
	// locks, and the caller holds one. A rename under way is a reason
	// to build the index at a later miss.
	if !n.r.tree.TryRLock() {
		return
	}
	defer n.r.tree.RUnlock()
	p, e := n.relPath()
	if e != 0 {
		return
	}
	var lists [][]tiers.Dirent
	left := maxIndexNames
	n.r.crashAt("name-index-list")
	for ti, t := range n.r.tiers {
		if mask&bit(ti) == 0 {
			continue
		}
		ents, complete, err := t.ReadDirUpTo(p, left)
		if err != nil {
			return // a copy missing at p may be elsewhere now
		}
		if !complete {
			n.markTooBig()
			return
		}
		lists = append(lists, ents)
		left -= len(ents)
	}
	n.learnNames(start, mask, lists)
}

// markTooBig records that n has more names than an index takes, so
// that misses stop listing it; a readdir through the mount that finds
// it smaller indexes it again.
func (n *node) markTooBig() {
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	ix.tooBig = true
	ix.mu.Unlock()
}

// listingStarted returns what learnNames needs to keep a listing of n
// about to be read, or ok false where n keeps no index.
func (n *node) listingStarted() (start listingStart, ok bool) {
	if n.lookupCache() == nil || n.r.nameBudget == 0 {
		return start, false
	}
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return listingStart{ix.gen, n.r.nameEpoch.Load()}, !ix.dead
}

// learnNames keeps the names of n's copies (one list per tier in mask),
// read after start, unless a name or a tier's health changed since.
func (n *node) learnNames(start listingStart, mask uint64, lists [][]tiers.Dirent) {
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.dead || ix.gen != start.gen || n.dirs.Load() != mask || n.r.nameEpoch.Load() != start.epoch {
		return // a name changed while the copies were read
	}
	if ix.names != nil && ix.mask == mask && ix.epoch == start.epoch {
		return // current already: changes keep it so
	}
	count := 0
	for _, l := range lists {
		count += len(l)
	}
	if count > maxIndexNames {
		ix.tooBig = true
		n.r.dropNames(ix)
		return
	}
	names := make(map[string]struct{}, count)
	var cost int64
	for _, l := range lists {
		for _, d := range l {
			if _, ok := names[d.Name]; !ok {
				names[d.Name] = struct{}{}
				cost += nameCost(d.Name)
			}
		}
	}
	n.r.dropNames(ix)
	if !n.r.chargeNames(cost) {
		return
	}
	ix.names, ix.bytes, ix.mask, ix.epoch = names, cost, mask, start.epoch
	ix.tooBig = false
}

// dropNameIndex frees n's index; the kernel forgot n.
func (n *node) dropNameIndex() {
	if ix := n.index.Load(); ix != nil {
		ix.mu.Lock()
		n.r.dropNames(ix)
		ix.mu.Unlock()
	}
}

// abandonNames drops directory n's index for good: go-fuse is about to
// take n out of the tree (its name goes to another node for the same
// directory, with another inode number, or n was removed or replaced).
// Changes made meanwhile never reach n, which a later lookup may hand
// back to the kernel (go-fuse keeps a node the kernel holds). The
// generation moves, so a listing under way is not kept either.
func (n *node) abandonNames() {
	if !n.IsDir() {
		return
	}
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	ix.dead = true
	ix.gen++
	n.r.dropNames(ix)
	ix.mu.Unlock()
}

func nameCost(name string) int64 { return int64(len(name)) + nameBytes }

// chargeNames takes b bytes of the name indexes' budget, or reports
// that they do not fit.
func (r *Root) chargeNames(b int64) bool {
	if r.nameBytes.Add(b) > r.nameBudget {
		r.nameBytes.Add(-b)
		return false
	}
	return true
}

// dropNames empties index ix (held locked) and returns its bytes; the
// next misses build it again.
func (r *Root) dropNames(ix *nameIndex) {
	r.nameBytes.Add(-ix.bytes)
	ix.names, ix.bytes, ix.misses = nil, 0, 0
}
