package fs

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

const opMoveLinked = "move-linked"

// MoveLinked moves a file with several names to tier dst, all its names
// at once: paths must be every name the file has (st_nlink of them), or
// nothing moves (ErrHardLinked). The copy is made once, put at the first
// name and linked at the others, so the names stay one file with the
// inode number the mount showed. The steps are Move's, and a journal
// intent naming every path covers the window in which both copies exist.
// It returns the bytes moved (the file's size, once).
func (r *Root) MoveLinked(ctx context.Context, paths []string, dst int) (int64, error) {
	ps := slices.Clone(paths)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	if len(ps) == 1 {
		return r.Move(ctx, ps[0], dst)
	}
	if dst < 0 || dst >= len(r.tiers) {
		return 0, fmt.Errorf("move %s: no tier %d", ps[0], dst)
	}
	src, st, gen, err := r.locateLinked(ps)
	if err != nil || src == dst {
		return 0, err
	}
	sino, sgen, err := r.movedID(src, ps[0], &st, gen)
	if err != nil {
		return 0, err
	}
	if r.openFiles.open(sino) {
		return 0, ErrOpen
	}
	if err := settleBirth(ctx, sgen); err != nil {
		return 0, err
	}
	state, ok := r.moves.begin(ps, src)
	if !ok {
		return 0, ErrMoving
	}
	defer r.moves.end(ps)
	commit := func(tmp tiers.Temp, before tiers.SourceState, id string) error {
		return r.commitLinked(ps, src, dst, sino, tmp, before, state, id)
	}
	in := intent{Op: opMoveLinked, From: ps[0], Paths: ps}
	if err := r.moveData(in, src, dst, sino, sgen, tiers.StateOf(&st), commit); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// locateLinked finds the tier holding every name in ps and checks they
// are the whole of one file: same tier, same backing inode, and no
// name besides them.
func (r *Root) locateLinked(ps []string) (int, unix.Stat_t, uint64, error) {
	src, st, gen, err := r.locate(ps[0])
	if err != nil {
		return -1, st, 0, err
	}
	if uint64(st.Nlink) != uint64(len(ps)) {
		return -1, st, 0, ErrHardLinked
	}
	for _, p := range ps[1:] {
		ti, o, _, err := r.locate(p)
		if err != nil {
			return -1, st, 0, err
		}
		if ti != src || o.Ino != st.Ino {
			return -1, st, 0, ErrHardLinked
		}
	}
	return src, st, gen, nil
}

// commitLinked is commitMove for every name of a linked file: under the
// move's lock and with directory renames held off, check that no name
// changed (a link or unlink of any name changes the shared ctime and
// nlink), put the copy at every name, switch the node and unlink the
// source names. As commitMove, a commit that succeeds ends the intent
// id before it lets go of the lock.
func (r *Root) commitLinked(ps []string, src, dst int, sino uint64, tmp tiers.Temp, before tiers.SourceState, state *moveState, id string) error {
	ts := r.tiers[src]
	r.tree.RLock()
	defer r.tree.RUnlock()
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.interrupted || r.openFiles.open(sino) {
		return ErrOpen
	}
	var st unix.Stat_t
	for _, p := range ps {
		if err := ts.Lstat(p, &st); err != nil || tiers.StateOf(&st) != before {
			return ErrChanged
		}
	}
	if err := r.placeLinked(ps, dst, tmp.Path); err != nil {
		return err
	}
	r.crashAt("move-after-rename", "path", ps[0])
	var left error
	for _, p := range ps {
		if err := r.switchTier(p, src, dst, tmp.Ino); err != nil {
			// The node already reads the new copy, which is identical.
			r.log.Warn("move: source name left behind; the next mount removes it", "path", p, "err", err)
			left = fmt.Errorf("unlink %s on tier %s: %w", p, ts.Name, err)
		}
	}
	for _, dir := range dirsOf(ps) {
		if err := ts.FsyncDir(dir); err != nil {
			r.log.Warn("move: fsync of the source directory failed", "path", dir, "err", err)
		}
	}
	r.crashAt("move-after-unlink", "path", ps[0])
	if left != nil {
		// The intent stays: the replay finishes the move with every name,
		// where tierfs check would settle each name by its own rule.
		return fmt.Errorf("%w: %w", left, errCopyLeft)
	}
	r.endIntent(id, ps[0])
	return nil
}

// placeLinked renames the copy tmp to the first name on dst, links it at
// the others and fsyncs their directories. On failure it removes the
// names it made, so that dst holds none of them.
func (r *Root) placeLinked(ps []string, dst int, tmp string) error {
	td := r.tiers[dst]
	for _, dir := range dirsOf(ps) {
		if e := r.ensureDirPath(dst, dir); e != 0 {
			return fmt.Errorf("create %s on tier %s: %w", dir, td.Name, e)
		}
		r.markDir(dir, dst)
	}
	if err := td.Rename(tmp, ps[0], unix.RENAME_NOREPLACE); err != nil {
		if err == unix.EEXIST {
			return ErrDuplicate
		}
		return fmt.Errorf("rename into place on tier %s: %w", td.Name, err)
	}
	for i, p := range ps[1:] {
		if err := td.Link(ps[0], p); err != nil {
			if err == unix.EEXIST {
				err = ErrDuplicate
			}
			return r.unplace(td, ps[:i+1], fmt.Errorf("link %s on tier %s: %w", p, td.Name, err))
		}
	}
	for _, dir := range dirsOf(ps) {
		if err := td.FsyncDir(dir); err != nil {
			return r.unplace(td, ps, fmt.Errorf("fsync %s on tier %s: %w", dir, td.Name, err))
		}
	}
	return nil
}

// unplace removes the names made on td by a commit that gives up. Still
// under the move's lock, so what is at those names is this move's copy.
func (r *Root) unplace(td *tiers.Tier, made []string, cause error) error {
	for _, p := range made {
		if err := td.Unlink(p); err != nil && !missing(err) {
			return fmt.Errorf("%w (and removing the copy at %s failed: %v): %w", cause, p, err, errCopyLeft)
		}
	}
	for _, dir := range dirsOf(made) {
		td.FsyncDir(dir)
	}
	return cause
}

// dirsOf returns the distinct parent directories of ps, sorted.
func dirsOf(ps []string) []string {
	var dirs []string
	for _, p := range ps {
		dir, _ := splitPath(p)
		dirs = append(dirs, dir)
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// replayMoveLinked settles a linked move interrupted by a crash so that
// the names stay one file on one tier. The source names are unlinked
// only once the copy holds every name, so while all of them exist the
// move rolls back (the copy's names go), and once one is gone it rolls
// forward (the remaining source names go). Each step removes a name
// only where the other tier holds the same bytes, and repeats safely
// if a crash interrupts the replay itself. It returns where copies were
// set aside.
func (r *Root) replayMoveLinked(in intent) ([]string, error) {
	if len(in.Tiers) != 2 || len(in.Paths) == 0 {
		return nil, fmt.Errorf("move-linked intent with %d tiers and %d paths", len(in.Tiers), len(in.Paths))
	}
	src, dst := r.tierIndex(in.Tiers[0]), r.tierIndex(in.Tiers[1])
	if src < 0 || dst < 0 {
		return nil, fmt.Errorf("move-linked intent names unknown tiers %v", in.Tiers)
	}
	keep, other, how := r.tiers[src], r.tiers[dst], "rolled back"
	if !allPresent(keep, in.Paths) {
		keep, other, how = other, keep, "finished"
	}
	var aside []string
	for _, p := range in.Paths {
		res, where, err := tiers.ResolveDuplicate(keep, other, p)
		switch {
		case err != nil:
			return aside, fmt.Errorf("%s: %w", p, err)
		case res == tiers.KeptBoth:
			r.log.Error("interrupted move left two different copies; kept both", "path", p, "set_aside", where)
			aside = append(aside, where)
		}
	}
	r.log.Info("interrupted move of a hard-linked file "+how, "paths", in.Paths, "tier", keep.Name)
	return aside, nil
}

// allPresent reports whether tier t holds every path in ps.
func allPresent(t *tiers.Tier, ps []string) bool {
	var st unix.Stat_t
	for _, p := range ps {
		if t.Lstat(p, &st) != nil {
			return false
		}
	}
	return true
}
