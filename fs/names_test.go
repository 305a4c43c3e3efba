package fs

import (
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

func dirents(names ...string) []tiers.Dirent {
	out := make([]tiers.Dirent, len(names))
	for i, n := range names {
		out[i].Name = n
	}
	return out
}

// indexedDir returns a directory on tier 0 whose index holds names, in
// a root whose name budget is budget.
func indexedDir(t *testing.T, budget int64, names ...string) *node {
	t.Helper()
	r := &Root{nameBudget: budget}
	n := &node{r: r}
	n.dirs.Store(bit(0))
	n.learnNames(listingStart{gen: n.nameIndexOf(true).gen}, bit(0), [][]tiers.Dirent{dirents(names...)})
	if n.index.Load().names == nil {
		t.Fatalf("premise: the index of %v was not kept", names)
	}
	return n
}

// The index answers only for names it knows to be missing, takes every
// change, and gives its bytes back whenever it stops answering.
func TestNameIndex(t *testing.T) {
	const budget = 1 << 10
	cases := []struct {
		name    string
		change  func(n *node)
		absent  []string // answered "missing" afterwards
		unknown []string // not answered (the tiers must be asked)
	}{
		{"listed", func(n *node) {}, []string{"c", "a."}, []string{"a", "b"}},
		{"made", func(n *node) { n.nameChanged("c") }, []string{"d"}, []string{"a", "c"}},
		{"removed", func(n *node) { n.nameGone("a") }, []string{"a", "c"}, []string{"b"}},
		{"copy on another tier", func(n *node) { n.dirs.Or(bit(1)) }, nil, []string{"c", "a"}},
		{"tier health changed", func(n *node) { n.r.nameEpoch.Add(1) }, nil, []string{"c"}},
		{"forgotten", func(n *node) { n.dropNameIndex() }, nil, []string{"c"}},
		{"over budget", func(n *node) {
			for i := range budget / nameBytes {
				n.nameChanged(string(rune('A'+i%26)) + string(rune('a'+i/26)))
			}
		}, nil, []string{"c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := indexedDir(t, budget, "a", "b")
			c.change(n)
			for _, name := range c.absent {
				if !n.absent(name) {
					t.Errorf("%q: not answered missing", name)
				}
			}
			for _, name := range c.unknown {
				if n.absent(name) {
					t.Errorf("%q: answered missing", name)
				}
			}
			ix := n.index.Load()
			if got := n.r.nameBytes.Load(); got != ix.bytes || (ix.names == nil && got != 0) {
				t.Errorf("%d bytes charged, index holds %d (built: %v)", got, ix.bytes, ix.names != nil)
			}
		})
	}
}

// A listing read while a name changed is not kept: it may lack the name.
func TestNameIndexListingRacingChange(t *testing.T) {
	n := indexedDir(t, 1<<10, "a")
	n.dropNameIndex()
	gen := n.nameIndexOf(true).gen
	n.nameChanged("b") // made after the listing below was read
	n.learnNames(listingStart{gen: gen}, bit(0), [][]tiers.Dirent{dirents("a")})
	if n.absent("b") {
		t.Fatal("b answered missing: a listing older than its creation was kept")
	}
	n.learnNames(listingStart{gen: n.nameIndexOf(false).gen}, bit(0), [][]tiers.Dirent{dirents("a", "b")})
	if n.absent("b") || !n.absent("c") {
		t.Fatal("a current listing was not kept")
	}
}

// A directory larger than maxIndexNames is not indexed.
func TestNameIndexTooBig(t *testing.T) {
	n := &node{r: &Root{nameBudget: 1 << 30}}
	n.dirs.Store(bit(0))
	names := make([]string, maxIndexNames+1)
	for i := range names {
		names[i] = string(rune(0x4e00 + i))
	}
	n.learnNames(listingStart{gen: n.nameIndexOf(true).gen}, bit(0), [][]tiers.Dirent{dirents(names...)})
	if ix := n.index.Load(); ix.names != nil || !ix.tooBig || n.r.nameBytes.Load() != 0 {
		t.Fatalf("index of %d names: built %v, tooBig %v, %d bytes charged", len(names), ix.names != nil, ix.tooBig, n.r.nameBytes.Load())
	}
}

// A listing read while a tier's health changed is not kept: the tier
// may have answered for the copy it could not see.
func TestNameIndexListingRacingHealthChange(t *testing.T) {
	n := indexedDir(t, 1<<10, "a")
	n.dropNameIndex()
	start := listingStart{gen: n.nameIndexOf(true).gen, epoch: n.r.nameEpoch.Load()}
	n.r.nameEpoch.Add(1) // a tier came back while the listing was read
	n.learnNames(start, bit(0), [][]tiers.Dirent{dirents("a")})
	if n.absent("b") {
		t.Fatal("b answered missing: a listing older than a tier's return was kept")
	}
}
