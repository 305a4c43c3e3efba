package fs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// errCopyLeft marks a move that gave up with its copy in place on the
// destination: its journal intent is kept for the next mount to settle.
var errCopyLeft = errors.New("the copy is left for the journal")

// Reasons a move is skipped; the mover retries later.
var (
	ErrOpen       = errors.New("file is open")
	ErrChanged    = errors.New("file changed while it was copied")
	ErrHardLinked = errors.New("file has several names")
	ErrNotFile    = errors.New("not a regular file")
	ErrMoving     = errors.New("file is already being moved")
	ErrDuplicate  = errors.New("a copy already exists on the destination tier")
)

// moveState is one move in progress. Its mutex is held while the move
// commits; operations on the file wait for it, or mark the move
// interrupted so that it gives up.
type moveState struct {
	mu          sync.Mutex
	interrupted bool
	src         int // the tier being moved from: it wins lookups until the commit
}

// moves tracks moves in progress by path.
type moves struct {
	active atomic.Int32 // fast path: no map access while nothing moves
	mu     sync.Mutex
	m      map[string]*moveState
}

func (ms *moves) get(p string) *moveState {
	if ms.active.Load() == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.m[p]
}

// interrupt makes a move of p give up (or waits for its commit to end).
func (ms *moves) interrupt(p string) {
	if s := ms.get(p); s != nil {
		s.mu.Lock()
		s.interrupted = true
		s.mu.Unlock()
	}
}

// wait blocks while a move of p commits.
func (ms *moves) wait(p string) {
	if s := ms.get(p); s != nil {
		s.mu.Lock()
		//lint:ignore SA2001 an empty critical section is the point: wait for the commit
		s.mu.Unlock()
	}
}

// source returns the tier a move of p is copying from, or -1. While
// both copies exist, lookups must find the source: a write to the copy
// would be lost if the move then gave up.
func (ms *moves) source(p string) int {
	if s := ms.get(p); s != nil {
		return s.src
	}
	return -1
}

// begin registers a move of the names ps of one file, all under one
// state: an operation on any name interrupts or waits for the move, and
// its commit takes one lock however many names the file has.
func (ms *moves) begin(ps []string, src int) (*moveState, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m == nil {
		ms.m = map[string]*moveState{}
	}
	for _, p := range ps {
		if _, ok := ms.m[p]; ok {
			return nil, false
		}
	}
	s := &moveState{src: src}
	for _, p := range ps {
		ms.m[p] = s
	}
	ms.active.Add(int32(len(ps)))
	return s, true
}

func (ms *moves) end(ps []string) {
	ms.mu.Lock()
	for _, p := range ps {
		delete(ms.m, p)
	}
	ms.mu.Unlock()
	ms.active.Add(-int32(len(ps)))
}

// Move moves file p (a path inside the mount) to tier dst, following
// the crash-safe protocol: copy to a temporary on dst and fsync it; then,
// with operations on the file held off, check the source is unchanged,
// rename the copy into place, fsync the directory, switch the node,
// unlink the source and fsync its directory. A journal intent covers the
// window in which both copies exist. It returns the bytes moved.
func (r *Root) Move(ctx context.Context, p string, dst int) (int64, error) {
	if dst < 0 || dst >= len(r.tiers) {
		return 0, fmt.Errorf("move %s: no tier %d", p, dst)
	}
	src, st, gen, err := r.locate(p)
	if err != nil {
		return 0, err
	}
	if src == dst {
		return 0, nil
	}
	if st.Nlink > 1 {
		return 0, ErrHardLinked
	}
	r.crashAt("move-located", "path", p)
	sino, sgen, err := r.movedID(src, p, &st, gen)
	if err != nil {
		return 0, err
	}
	if r.openFiles.open(sino) {
		return 0, ErrOpen
	}
	if err := settleBirth(ctx, sgen); err != nil {
		return 0, err
	}
	state, ok := r.moves.begin([]string{p}, src)
	if !ok {
		return 0, ErrMoving
	}
	defer r.moves.end([]string{p})
	commit := func(tmp tiers.Temp, before tiers.SourceState, id string) error {
		return r.commitMove(p, src, dst, sino, tmp, before, state, id)
	}
	if err := r.moveData(intent{Op: opMove, From: p}, src, dst, sino, sgen, tiers.StateOf(&st), commit); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// moveData runs the steps every move shares once the file is registered
// as moving: copy in.From from src to a temporary on dst, keeping sino
// and sgen, the identity the mount shows (movedID); check the copy is of
// the file located; journal in; and commit, which puts the copy in place
// and, when it succeeds, ends the intent id itself (commitMove).
func (r *Root) moveData(in intent, src, dst int, sino, sgen uint64, located tiers.SourceState, commit func(tmp tiers.Temp, before tiers.SourceState, id string) error) error {
	p := in.From
	ts, td := r.tiers[src], r.tiers[dst]
	r.crashAt("move-before-copy", "path", p)
	tmp, before, err := tiers.CopyToTemp(ts, td, p, map[string][]byte{inoXattr: keptIDBytes(sino, sgen)})
	if err != nil {
		return fmt.Errorf("copy %s to tier %s: %w", p, td.Name, err)
	}
	if err := sameFile(before, located); err != nil {
		td.Unlink(tmp.Path)
		return err
	}
	r.crashAt("move-after-copy", "path", p)
	in.Tiers = []string{ts.Name, td.Name}
	id, err := r.journal.begin(in)
	if err != nil {
		td.Unlink(tmp.Path)
		return fmt.Errorf("journal: %w", err)
	}
	if err := commit(tmp, before, id); err != nil {
		td.Unlink(tmp.Path) // gone already if it was renamed into place
		if !errors.Is(err, errCopyLeft) {
			r.endIntent(id, p)
		} // else the intent stays: the next mount settles the two copies
		return err
	}
	r.crashAt("move-committed", "path", p)
	return nil
}

// sameFile checks that the file a move copied is the one it found: the
// commit compares the source with its state at the copy, so a file that
// replaced it, or a link made to it, before the copy began would
// otherwise be moved as if it were the one found, with that one's
// identity and with one name of several (its other names left behind).
// Operations on the file interrupt the move only once it is registered.
func sameFile(copied, located tiers.SourceState) error {
	if copied.Ino != located.Ino || copied.Nlink != located.Nlink {
		return ErrChanged
	}
	return nil
}

// commitMove puts the copy tmp in place and switches the file to it,
// unless the file was opened, changed, renamed or removed since the copy
// began. All of it runs under the move's lock, which every operation on
// the file takes first, and with directory renames held off: the copy
// becomes visible only once nothing can change the source any more, so
// a move that gives up never removes a file someone else put in its
// place, and after a crash the source is either unchanged or removed by
// this commit. A commit that succeeds ends the journal intent id before
// it lets go of the lock: a rename onto p that came after it and a crash
// would otherwise leave the intent to settle two copies of p that are
// no longer this move's, and it would keep the moved one.
func (r *Root) commitMove(p string, src, dst int, sino uint64, tmp tiers.Temp, before tiers.SourceState, state *moveState, id string) error {
	ts, td := r.tiers[src], r.tiers[dst]
	r.tree.RLock()
	defer r.tree.RUnlock()
	state.mu.Lock()
	defer state.mu.Unlock()
	dir, _ := splitPath(p)
	if state.interrupted || r.openFiles.open(sino) {
		return ErrOpen
	}
	var st unix.Stat_t
	if err := ts.Lstat(p, &st); err != nil || tiers.StateOf(&st) != before {
		return ErrChanged
	}
	if e := r.ensureDirPath(dst, dir); e != 0 {
		return fmt.Errorf("create %s on tier %s: %w", dir, td.Name, e)
	}
	r.markDir(dir, dst)
	if err := td.Rename(tmp.Path, p, unix.RENAME_NOREPLACE); err != nil {
		if err == unix.EEXIST {
			return ErrDuplicate
		}
		return fmt.Errorf("rename into place on tier %s: %w", td.Name, err)
	}
	if err := td.FsyncDir(dir); err != nil {
		// Still under the lock: what is at p on td is this move's copy.
		if uerr := td.Unlink(p); uerr != nil && !missing(uerr) {
			return fmt.Errorf("fsync %s on tier %s: %w (and removing the copy failed: %v): %w", dir, td.Name, err, uerr, errCopyLeft)
		}
		td.FsyncDir(dir)
		return fmt.Errorf("fsync %s on tier %s: %w", dir, td.Name, err)
	}
	r.crashAt("move-after-rename", "path", p)
	if err := r.switchTier(p, src, dst, tmp.Ino); err != nil {
		// The node already reads the new copy, which is identical.
		r.log.Warn("move: source copy left behind; tierfs check will remove it", "path", p, "err", err)
		r.endIntent(id, p)
		return nil
	}
	if err := ts.FsyncDir(dir); err != nil {
		r.log.Warn("move: fsync of the source directory failed", "path", p, "err", err)
	}
	r.crashAt("move-after-unlink", "path", p)
	r.endIntent(id, p)
	return nil
}

// switchTier points the node of p, if the kernel has one, at its copy on
// dst, inode number ino there, and unlinks the source. Both happen under
// the parent directory's name lock, so that a lookup which found the
// source just before has made its node by then, and one that comes
// after finds only the copy.
func (r *Root) switchTier(p string, src, dst int, ino uint64) error {
	dir, _ := splitPath(p)
	if parent := r.knownNode(dir); parent != nil {
		parent.names.Lock()
		defer parent.names.Unlock()
	}
	if n := r.knownNode(p); n != nil {
		n.tier.Store(int32(dst))
		n.backing.Store(ino)
	}
	r.forgetPath(p)
	r.crashAt("move-after-switch", "path", p)
	return r.tiers[src].Unlink(p)
}

// endIntent clears a move's journal intent.
func (r *Root) endIntent(id, p string) {
	if err := r.journal.end(id); err != nil {
		r.log.Warn("move: cannot clear the journal intent", "path", p, "err", err)
	}
}

// locate finds the tier holding file p without going through nodes, with
// its stat and birth time there.
func (r *Root) locate(p string) (int, unix.Stat_t, uint64, error) {
	var st unix.Stat_t
	for _, ti := range r.placement().Order(p) {
		gen, err := r.tiers[ti].LstatGen(p, &st)
		if err == nil {
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				return -1, st, 0, ErrNotFile
			}
			return ti, st, gen, nil
		}
		if !missing(err) && !r.downForeign(p, ti) {
			return -1, st, 0, err
		}
	}
	return -1, st, 0, unix.ENOENT
}

// knownNode returns the node the kernel holds for p, if any.
func (r *Root) knownNode(p string) *node {
	n := r.root
	if p == "" {
		return n
	}
	for _, name := range strings.Split(p, "/") {
		if n = n.knownChild(name); n == nil {
			return nil
		}
	}
	return n
}

// markDir records that directory dir now exists on tier ti in the
// nodes the kernel knows, so lookups there ask ti.
func (r *Root) markDir(dir string, ti int) {
	n := r.root
	n.dirs.Or(bit(ti))
	if dir == "" {
		return
	}
	p := ""
	for _, name := range strings.Split(dir, "/") {
		p = joinPath(p, name)
		r.forgetPath(p) // cached tier masks, whether or not the kernel knows the node
		if n != nil {
			if n = n.knownChild(name); n != nil {
				n.dirs.Or(bit(ti))
			}
		}
	}
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

const opMove = "move"

// replayMove settles a move interrupted by a crash: if both copies
// exist, identical ones resolve to the destination, differing ones are
// both kept and reported.
// It returns where a copy was set aside.
func (r *Root) replayMove(in intent) ([]string, error) {
	if len(in.Tiers) != 2 {
		return nil, fmt.Errorf("move intent with %d tiers", len(in.Tiers))
	}
	src, dst := r.tierIndex(in.Tiers[0]), r.tierIndex(in.Tiers[1])
	if src < 0 || dst < 0 {
		return nil, fmt.Errorf("move intent names unknown tiers %v", in.Tiers)
	}
	res, where, err := tiers.ResolveDuplicate(r.tiers[dst], r.tiers[src], in.From)
	switch {
	case err != nil:
		return nil, err
	case res == tiers.KeptBoth:
		r.log.Error("interrupted move left two different copies; kept both", "path", in.From, "set_aside", where)
		return []string{where}, nil
	case res == tiers.RemovedCopy:
		r.log.Info("interrupted move finished", "path", in.From, "tier", in.Tiers[1])
	}
	return nil, nil
}
