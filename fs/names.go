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
}

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

// nameMissed counts a lookup that found name nowhere, and builds the
// index once a directory has seen indexAfterMisses of them. p is n's
// path; the caller holds n.names for reading.
func (n *node) nameMissed(p string) {
	if n.lookupCache() == nil || n.r.nameBudget == 0 {
		return
	}
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	ix.misses++
	build := ix.names == nil && !ix.tooBig && ix.misses >= indexAfterMisses
	gen, mask := ix.gen, n.dirs.Load()
	ix.mu.Unlock()
	if !build || n.r.nameBytes.Load() >= n.r.nameBudget {
		return
	}
	var lists [][]tiers.Dirent
	left := maxIndexNames
	for ti, t := range n.r.tiers {
		if mask&bit(ti) == 0 {
			continue
		}
		ents, complete, err := t.ReadDirUpTo(p, left)
		if err != nil && !missing(err) {
			return
		}
		if err == nil && !complete {
			n.markTooBig()
			return
		}
		lists = append(lists, ents)
		left -= len(ents)
	}
	n.learnNames(gen, mask, lists)
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

// listingStarted returns the generation learnNames needs to keep a
// listing of n about to be read, or ok false where n keeps no index.
func (n *node) listingStarted() (gen uint64, ok bool) {
	if n.lookupCache() == nil || n.r.nameBudget == 0 {
		return 0, false
	}
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.gen, true
}

// learnNames keeps the names of n's copies (one list per tier in mask),
// read after gen was current, unless a name changed since.
func (n *node) learnNames(gen, mask uint64, lists [][]tiers.Dirent) {
	ix := n.nameIndexOf(true)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.gen != gen || n.dirs.Load() != mask {
		return // a name changed while the copies were read
	}
	if ix.names != nil && ix.mask == mask && ix.epoch == n.r.nameEpoch.Load() {
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
	ix.names, ix.bytes, ix.mask, ix.epoch = names, cost, mask, n.r.nameEpoch.Load()
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
