package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// A node is counted once however often it is tracked or touched, and
// uncounted once however often it is forgotten.
func TestLiveNodesCountOnce(t *testing.T) {
	r := &Root{nodes: newLiveNodes(0)}
	r.root = &node{r: r}
	n := &node{r: r}
	r.nodes.track(n)
	r.nodes.track(n)
	n.touch()
	if got := r.nodes.count.Load(); got != 1 {
		t.Fatalf("count after tracking twice = %d, want 1", got)
	}
	r.nodes.forget(n)
	r.nodes.forget(n)
	if s := r.nodes.stats(); s.Live != 0 || s.Forgotten != 1 {
		t.Fatalf("after forgetting twice: %+v, want live 0, forgotten 1", s)
	}
	n.touch() // a request proves go-fuse holds it again
	if got := r.nodes.count.Load(); got != 1 {
		t.Fatalf("count after a request on a forgotten node = %d, want 1", got)
	}
	p := newPruner(r.nodes, nil, t.TempDir(), nil)
	p.drain()
	if len(p.ring) != 1 || p.ring[0] != n {
		t.Fatalf("ring = %v, want the node once (pushed once while tracked)", p.ring)
	}
	r.root.touch()
	if got := r.nodes.count.Load(); got != 1 {
		t.Fatalf("the root was counted: %d", got)
	}
}

// tree is a go-fuse tree that is not mounted: the pruner's notifications
// go to a fake kernel that forgets the entry at once, as the real one
// does for an unused inode. By default the fake kernel has no
// FUSE_NOTIFY_PRUNE (newPruneTree gives it one).
type tree struct {
	r        *Root
	p        *pruner
	root     *gofs.Inode
	notified []string
	pins     map[string]bool // what the scan for directories in use finds

	// By prune: the batches asked for, and the nodes the fake kernel
	// keeps because they are in use.
	batches [][]string
	busy    map[*node]bool
	scans   int // scans for pinned directories
}

func newTree(t *testing.T, maxNodes int64) *tree {
	t.Helper()
	r := &Root{nodes: newLiveNodes(maxNodes)}
	r.root = &node{r: r}
	gofs.NewNodeFS(r.root, &gofs.Options{})
	tr := &tree{r: r, root: r.root.EmbeddedInode(), busy: map[*node]bool{}}
	tr.p = newPruner(r.nodes, tr.root, t.TempDir(), slog.New(slog.DiscardHandler))
	tr.p.scanPins = func() map[string]bool { tr.scans++; return tr.pins }
	tr.p.pruneNodes = func([]*gofs.Inode) syscall.Errno { return syscall.ENOSYS }
	tr.p.notify = func(parent *gofs.Inode, name string) syscall.Errno {
		ch := parent.GetChild(name)
		if ch == nil {
			return syscall.ENOENT
		}
		tr.notified = append(tr.notified, name)
		tr.forget(ch)
		return 0
	}
	return tr
}

// newPruneTree is newTree whose fake kernel has FUSE_NOTIFY_PRUNE: it
// forgets every node asked for but the busy ones.
func newPruneTree(t *testing.T, maxNodes int64) *tree {
	tr := newTree(t, maxNodes)
	tr.p.notify = func(*gofs.Inode, string) syscall.Errno {
		t.Error("entry invalidation used although the kernel has FUSE_NOTIFY_PRUNE")
		return syscall.ENOSYS
	}
	tr.p.pruneNodes = func(nodes []*gofs.Inode) syscall.Errno {
		if len(nodes) == 0 {
			return 0
		}
		var batch []string
		for _, in := range nodes {
			name, _ := in.Parent()
			batch = append(batch, name)
			if !tr.busy[in.Operations().(*node)] {
				tr.notified = append(tr.notified, name)
				tr.forget(in)
			}
		}
		tr.batches = append(tr.batches, batch)
		return 0
	}
	return tr
}

// forget is the kernel's FORGET of in: go-fuse drops the node and calls
// OnForget.
func (tr *tree) forget(in *gofs.Inode) {
	name, parent := in.Parent()
	parent.RmChild(name)
	in.Operations().(*node).OnForget()
}

// add makes a tracked node under parent, linked into the tree as a
// lookup would leave it. It is persistent, as a node the kernel holds
// stays when its last child goes.
func (tr *tree) add(parent *gofs.Inode, name string, mode uint32) *node {
	ch := &node{r: tr.r}
	in := parent.NewPersistentInode(context.Background(), ch, gofs.StableAttr{Mode: mode, Ino: uint64(len(tr.p.ring)) + 100 + uint64(tr.r.nodes.count.Load())})
	parent.AddChild(name, in, true)
	tr.r.nodes.track(ch)
	tr.p.drain()
	return ch
}

// A pass drops the oldest unused nodes down to the target, never an
// open file or a directory go-fuse holds children of.
func TestPrunerDropsDownToTarget(t *testing.T) {
	tr := newTree(t, 16)
	dir := tr.add(tr.root, "dir", fuse.S_IFDIR)
	tr.add(dir.EmbeddedInode(), "inner", fuse.S_IFREG)
	open := tr.add(tr.root, "open", fuse.S_IFREG)
	open.opens.Add(1)
	for i := range 20 {
		tr.add(tr.root, fmt.Sprintf("f%02d", i), fuse.S_IFREG)
	}
	if got := tr.r.nodes.count.Load(); got != 23 {
		t.Fatalf("count = %d, want 23", got)
	}
	// The first lap takes every node's second chance, the second drops.
	dropped, wanted := tr.p.prune()
	want := []string{"inner", "f00", "f01", "f02", "f03", "f04", "f05", "f06"}
	if dropped != len(want) || wanted != len(want) || !slices.Equal(tr.notified, want) {
		t.Fatalf("pass dropped %d of %d: %v; want %v", dropped, wanted, tr.notified, want)
	}
	if s := tr.r.nodes.stats(); s.Live != 15 || s.Pruned != 8 || s.Forgotten != 8 || s.Method != PruneMethodEntry {
		t.Fatalf("after the pass: %+v; want the target 15 live, 8 pruned and forgotten, by entry invalidation", s)
	}
	// Its child gone, the directory goes like a file; the open file
	// never does.
	tr.notified = nil
	tr.requireLaterPasses(t)
}

// A pass that finds nothing it may drop says so, so that the pruner
// waits instead of sweeping again for every new node.
func TestPrunerReportsShortfall(t *testing.T) {
	tr := newTree(t, 16)
	for i := range 20 {
		tr.add(tr.root, fmt.Sprintf("f%02d", i), fuse.S_IFREG).opens.Add(1)
	}
	if dropped, want := tr.p.prune(); dropped != 0 || want != 5 {
		t.Fatalf("prune with every file open = %d dropped of %d; want 0 of 5", dropped, want)
	}
	if dropped, want := newTree(t, 16).p.prune(); dropped != 0 || want != 0 {
		t.Fatalf("prune within the cap = %d dropped of %d; want 0 of 0", dropped, want)
	}
}

// A node used since the hand last passed it keeps it for a lap.
func TestPrunerSecondChance(t *testing.T) {
	tr := newTree(t, 4)
	nodes := map[string]*node{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		nodes[name] = tr.add(tr.root, name, fuse.S_IFREG)
	}
	tr.p.prune() // clears every referenced bit, drops a, b, c, d
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(tr.notified, want) {
		t.Fatalf("first pass dropped %v, want %v", tr.notified, want)
	}
	nodes["e"].touch()
	tr.add(tr.root, "i", fuse.S_IFREG)
	tr.notified = nil
	tr.p.prune() // five nodes over a cap of four: one goes
	if want := []string{"f"}; !slices.Equal(tr.notified, want) {
		t.Fatalf("second pass dropped %v, want %v (e was used, so f goes)", tr.notified, want)
	}
}

// A node go-fuse never took (it kept another node for the same inode) is
// uncounted by the second audit; nodes it holds stay counted.
func TestPrunerAuditUncountsDiscarded(t *testing.T) {
	tr := newTree(t, 0)
	kept := tr.add(tr.root, "a", fuse.S_IFREG)
	discarded := &node{r: tr.r}
	tr.root.NewInode(context.Background(), discarded, gofs.StableAttr{Ino: 7})
	tr.r.nodes.track(discarded)
	tr.p.drain()
	if got := tr.r.nodes.count.Load(); got != 2 {
		t.Fatalf("count = %d, want 2", got)
	}
	tr.p.audit()
	if got := tr.r.nodes.count.Load(); got != 2 {
		t.Fatalf("count after one audit = %d, want 2 (it may be about to be registered)", got)
	}
	tr.p.audit()
	if got := tr.r.nodes.count.Load(); got != 1 || len(tr.p.ring) != 1 || tr.p.ring[0] != kept {
		t.Fatalf("after two audits: count %d, ring %v; want 1 and only the kept node", got, tr.p.ring)
	}
	if s := tr.r.nodes.stats(); s.Forgotten != 0 {
		t.Fatalf("a discarded node counted as forgotten: %+v", s)
	}
}

// A directory in use as a working directory (or root, or mount point)
// stays however long it is unused; another one goes.
func TestPrunerKeepsPinnedDirectories(t *testing.T) {
	tr := newTree(t, 4)
	tr.pins = map[string]bool{"home/cwd": true}
	home := tr.add(tr.root, "home", fuse.S_IFDIR)
	tr.add(home.EmbeddedInode(), "cwd", fuse.S_IFDIR)
	tr.add(home.EmbeddedInode(), "other", fuse.S_IFDIR)
	for i := range 10 {
		tr.add(tr.root, fmt.Sprintf("f%d", i), fuse.S_IFREG)
		tr.p.prune()
	}
	if !slices.Contains(tr.notified, "other") || slices.Contains(tr.notified, "cwd") {
		t.Fatalf("pruned %v; want other and not cwd", tr.notified)
	}
}

// The scan finds a process's working directory below the mount point.
func TestPinnedDirs(t *testing.T) {
	mnt := t.TempDir()
	dir := filepath.Join(mnt, "mail", "a b")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pins := pinnedDirs(canonical(mnt))
	if !pins["mail/a b"] || pins["mail"] {
		t.Fatalf("pinnedDirs = %v, want mail/a b (the sleep's working directory) and not mail", pins)
	}
}

// With FUSE_NOTIFY_PRUNE, a pass sends its nodes in one message (no
// scan of /proc), and the nodes the kernel forgets count as pruned.
func TestPrunerPrunesByNodeID(t *testing.T) {
	tr := newPruneTree(t, 16)
	tr.pins = map[string]bool{"dir": true} // not looked at: the kernel decides
	dir := tr.add(tr.root, "dir", fuse.S_IFDIR)
	tr.add(dir.EmbeddedInode(), "inner", fuse.S_IFREG)
	open := tr.add(tr.root, "open", fuse.S_IFREG)
	open.opens.Add(1)
	for i := range 20 {
		tr.add(tr.root, fmt.Sprintf("f%02d", i), fuse.S_IFREG)
	}
	asked, wanted := tr.p.prune()
	want := []string{"inner", "f00", "f01", "f02", "f03", "f04", "f05", "f06"}
	if asked != len(want) || wanted != len(want) || len(tr.batches) != 1 || !slices.Equal(tr.batches[0], want) {
		t.Fatalf("pass asked for %d of %d in %v; want one batch %v", asked, wanted, tr.batches, want)
	}
	if s := tr.r.nodes.stats(); s.Live != 15 || s.Pruned != 8 || s.Forgotten != 8 || s.Method != PruneMethodPrune {
		t.Fatalf("after the pass: %+v; want the target 15 live, 8 pruned and forgotten, by prune", s)
	}
	tr.requireLaterPasses(t)
	if tr.scans != 0 {
		t.Fatalf("%d scans of /proc for directories in use; want none by prune", tr.scans)
	}
}

// A large pass goes in messages of at most pruneBatch node IDs.
func TestPrunerBatches(t *testing.T) {
	tr := newPruneTree(t, 1000)
	for i := range 2000 {
		tr.add(tr.root, fmt.Sprintf("f%04d", i), fuse.S_IFREG)
	}
	asked, want := tr.p.prune()
	var sizes []int
	for _, b := range tr.batches {
		sizes = append(sizes, len(b))
	}
	if wantSizes := []int{pruneBatch, pruneBatch, want - 2*pruneBatch}; asked != want || !slices.Equal(sizes, wantSizes) {
		t.Fatalf("pass asked for %d of %d in batches of %v; want %v", asked, want, sizes, wantSizes)
	}
	if s := tr.r.nodes.stats(); s.Live != tr.r.nodes.target() || s.Pruned != uint64(want) {
		t.Fatalf("after the pass: %+v; want %d live, %d pruned", s, tr.r.nodes.target(), want)
	}
}

// A node the kernel keeps because it is in use (a working directory)
// stays counted and on the ring, is not counted as pruned, rests a lap,
// and is asked for again later; once it is no longer in use it goes.
func TestPrunerKeepsWhatTheKernelKeeps(t *testing.T) {
	tr := newPruneTree(t, 4)
	var dirs []*node
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		n := tr.add(tr.root, name, fuse.S_IFDIR)
		tr.busy[n] = true
		dirs = append(dirs, n)
	}
	asked, want := tr.p.prune() // clears every referenced bit, asks for a, b
	if asked != 2 || want != 2 {
		t.Fatalf("first pass asked for %d of %d; want 2 of 2", asked, want)
	}
	if s := tr.r.nodes.stats(); s.Live != 6 || s.Pruned != 0 || s.Forgotten != 0 || len(tr.p.ring) != 6 {
		t.Fatalf("after the kernel kept everything: %+v, ring %d; want 6 live and on the ring, none pruned", s, len(tr.p.ring))
	}
	tr.p.prune() // a and b rest; c, d are asked for
	tr.p.prune() // c and d rest; e, f are asked for
	tr.p.prune() // a and b again
	var asks []string
	for _, b := range tr.batches {
		asks = append(asks, b...)
	}
	if want := []string{"a", "b", "c", "d", "e", "f", "a", "b"}; !slices.Equal(asks, want) {
		t.Fatalf("asked for %v; want %v (each asked once a lap, then resting)", asks, want)
	}
	// a node the kernel kept, asked for and then used, is not counted
	// as pruned when the kernel forgets it for another reason
	dirs[2].touch()
	tr.forget(dirs[2].EmbeddedInode())
	delete(tr.busy, dirs[3])
	tr.p.prune() // c is gone; d is asked for and dropped
	if s := tr.r.nodes.stats(); s.Live != 4 || s.Pruned != 1 || s.Forgotten != 2 {
		t.Fatalf("after c was forgotten and d went: %+v; want 4 live, 1 pruned, 2 forgotten", s)
	}
}

// When the kernel keeps most of what it is asked to prune, the pruner
// waits for the next tick instead of sweeping again for every new node.
func TestPrunerBacksOffWhenKernelKeeps(t *testing.T) {
	tr := newPruneTree(t, 1000)
	for i := range 1100 {
		tr.busy[tr.add(tr.root, fmt.Sprintf("f%04d", i), fuse.S_IFREG)] = true
	}
	var mu sync.Mutex
	prune := tr.p.pruneNodes
	tr.p.pruneNodes = func(nodes []*gofs.Inode) syscall.Errno {
		mu.Lock()
		defer mu.Unlock()
		return prune(nodes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.p.run(ctx); close(done) }()
	// New nodes keep waking the pruner.
	for i := range 40 {
		ch := &node{r: tr.r}
		in := tr.root.NewPersistentInode(ctx, ch, gofs.StableAttr{Mode: fuse.S_IFREG, Ino: uint64(10000 + i)})
		tr.root.AddChild(fmt.Sprintf("new%02d", i), in, true)
		tr.r.nodes.track(ch)
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(tr.batches) > 2 {
		t.Fatalf("%d passes in 400ms while the kernel kept everything; want at most 2", len(tr.batches))
	}
}

// requireLaterPasses adds 40 files, pruning after each, and checks that
// the directory whose child went is dropped like a file, the open file
// never is, and the count stays at the cap of 16.
func (tr *tree) requireLaterPasses(t *testing.T) {
	t.Helper()
	for i := range 40 {
		tr.add(tr.root, fmt.Sprintf("g%02d", i), fuse.S_IFREG)
		tr.p.prune()
	}
	if !slices.Contains(tr.notified, "dir") || slices.Contains(tr.notified, "open") {
		t.Fatalf("later passes dropped %v; want dir and not open", tr.notified)
	}
	if got := tr.r.nodes.count.Load(); got > 16 {
		t.Fatalf("count %d over the cap 16", got)
	}
}
