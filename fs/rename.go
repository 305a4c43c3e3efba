package fs

import (
	"context"
	"fmt"
	"slices"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Rename never moves data: a file stays on the tier that holds it, so
// the rename is one atomic renameat2 there and never EXDEV. A directory
// present on several tiers is renamed on each under a journal intent.
//
// In a cluster a rename that would carry a name to another user's lease
// (leaseSet.sameLease) fails with EXDEV, as a rename between two NFS
// mounts does: the kernel and go-fuse would keep the node, and every
// node made beneath it, under the lease it was made with. mv(1) copies
// instead. That is decided before the leases are taken, so that such a
// rename does not wait for another host's user.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^uint32(unix.RENAME_NOREPLACE) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE and RENAME_WHITEOUT are not offered
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	from, e := n.childPath(name)
	if e != 0 {
		return e
	}
	to, e := np.childPath(newName)
	if e != 0 {
		return e
	}
	if n.r.leases != nil && !n.r.leases.sameLease(from, to) {
		return syscall.EXDEV
	}
	if e := n.leasedChild(ctx, name); e != 0 {
		return e
	}
	if e := np.leasedChild(ctx, newName); e != 0 {
		return e
	}
	if n.hidden(name) || np.hidden(newName) {
		return syscall.EPERM
	}
	if e := n.tiersUp(); e != 0 {
		return e
	}
	if e := np.tiersUp(); e != 0 {
		return e
	}
	n.r.moves.interrupt(from)
	n.r.moves.interrupt(to)
	// The kernel looked the source up just before: its node says whether
	// this renames a directory, which must hold moves off (Root.tree).
	e, retry := n.rename(name, from, np, newName, to, flags, n.childIsDir(name))
	if retry {
		e, _ = n.rename(name, from, np, newName, to, flags, true)
	}
	if e == 0 {
		// go-fuse moves the node to its new name once this returns.
		n.r.crashAt("rename-done", "path", to)
	}
	return e
}

// rename renames under the name locks of both directories, and under
// Root.tree if treeLocked. A directory found without it is left alone
// and reported by retry: the tree lock comes before the name locks.
func (n *node) rename(name, from string, np *node, newName, to string, flags uint32, treeLocked bool) (e syscall.Errno, retry bool) {
	if treeLocked {
		n.r.tree.Lock()
		defer n.r.tree.Unlock()
	}
	unlock := lockNames(n, np)
	defer unlock()
	ti, isDir, e := n.source(name, from)
	if e != 0 {
		return e, false
	}
	if isDir && !treeLocked {
		return 0, true
	}
	target, e := np.targetCopies(newName, to)
	if e != 0 {
		return e, false
	}
	if flags&unix.RENAME_NOREPLACE != 0 && len(target) > 0 {
		return syscall.EEXIST, false
	}
	defer np.forget(newName)
	mask := ^uint64(0) // a directory: its copies may be on any tier
	if !isDir {
		mask = bit(ti)
	}
	if n.r.staleBegin(from, to, mask) {
		defer n.r.staleEnd()
	}
	if isDir {
		if len(target) > 0 {
			np.keepRemovedDir(newName, to)
		}
		e = n.renameDir(from, to, np, target)
	} else {
		e = n.renameFile(ti, from, to, np, newName, target, uint(flags))
	}
	if e == 0 && isDir {
		if old := np.knownChild(newName); old != nil {
			old.abandonNames() // go-fuse drops the replaced directory's node
		}
	}
	if e == 0 && (isDir || n.dirs.Load() == bit(ti)) {
		n.forgetGone(name) // no tier holds the old name now
	} else {
		n.forget(name)
	}
	return e, false
}

// childIsDir reports whether child name is a directory as far as the
// node the kernel holds for it says; true when there is none.
func (n *node) childIsDir(name string) bool {
	ch := n.knownChild(name)
	return ch == nil || ch.IsDir()
}

// source finds the tier of rename's source p (child name of n). The
// kernel looked the name up just before, so the node it holds usually
// answers without asking the tiers.
func (n *node) source(name, p string) (int, bool, syscall.Errno) {
	if ch := n.knownChild(name); ch != nil && !ch.IsDir() {
		return int(ch.tier.Load()), false, 0
	}
	var st unix.Stat_t
	ti, _, e := n.find(p, &st)
	return ti, st.Mode&unix.S_IFMT == unix.S_IFDIR, e
}

// lockNames write-locks the name tables of one or two directories, in
// inode order so that two renames cannot deadlock.
func lockNames(a, b *node) func() {
	if a == b {
		a.names.Lock()
		return a.names.Unlock
	}
	if a.StableAttr().Ino > b.StableAttr().Ino {
		a, b = b, a
	}
	a.names.Lock()
	b.names.Lock()
	return func() { b.names.Unlock(); a.names.Unlock() }
}

// knownChild returns the node the kernel holds for name, if any.
func (n *node) knownChild(name string) *node {
	if ch := n.GetChild(name); ch != nil {
		nd, _ := ch.Operations().(*node)
		return nd
	}
	return nil
}

// targetCopies maps each tier holding p (child name of n) to its file
// type. A target the cache knows to be absent costs no probe: renames
// into maildir's new/ and cur/ nearly always have one.
func (n *node) targetCopies(name, p string) (map[int]uint32, syscall.Errno) {
	out := map[int]uint32{}
	if n.knownChild(name) == nil && n.absent(name) {
		return out, 0
	}
	if lc := n.lookupCache(); lc != nil && n.knownChild(name) == nil {
		if c, ok := lc.get(n.cacheKey(name)); ok && c.tier < 0 {
			return out, 0
		}
	}
	mask := n.dirs.Load()
	for ti, t := range n.r.tiers {
		if mask&bit(ti) == 0 {
			continue
		}
		var st unix.Stat_t
		err := t.Lstat(p, &st)
		if missing(err) {
			continue
		}
		if err != nil {
			return nil, errno(err)
		}
		out[ti] = st.Mode & unix.S_IFMT
	}
	return out, 0
}

// renameFile renames a non-directory on its own tier; a target on other
// tiers is removed afterwards, so a crash in between keeps both names'
// data (the winner shows, "tierfs check" reports the other). flags go to
// the tier too: RENAME_NOREPLACE was checked on every tier, but a create
// may have come since.
func (n *node) renameFile(ti int, from, to string, np *node, newName string, target map[int]uint32, flags uint) syscall.Errno {
	for _, typ := range target {
		if typ == unix.S_IFDIR {
			return syscall.EISDIR
		}
	}
	if e := np.ensureOn(ti); e != 0 {
		return e
	}
	if old := np.knownChild(newName); old != nil && !old.IsDir() {
		if tj := int(old.tier.Load()); target[tj] != 0 {
			n.r.keepReplaced(tj, to, old)
		}
	}
	others := otherTiers(target, ti)
	id, e := n.r.beginRenameFile(ti, from, to, others)
	if e != 0 {
		return e
	}
	if err := n.r.tiers[ti].Rename(from, to, flags); err != nil {
		n.r.endRenameFile(id, to)
		return errno(err)
	}
	if len(others) > 0 {
		n.r.crashAt("rename-before-unlink-replaced")
	}
	n.r.removeReplaced(to, others)
	n.r.endRenameFile(id, to)
	return 0
}

// otherTiers lists, in tier order, the tiers of target other than ti.
func otherTiers(target map[int]uint32, ti int) []int {
	var out []int
	for tj := range target {
		if tj != ti {
			out = append(out, tj)
		}
	}
	slices.Sort(out)
	return out
}

// beginRenameFile journals a rename that replaces copies of its target
// on other tiers than the source's. Between the rename and the removal
// of those copies a crash would leave the target on two tiers, and
// where the replaced copy comes first in the lookup order the mount
// would show it again with the renamed file hidden behind it: half a
// rename. The next mount finishes the removal instead (replayRenameFile).
// A rename with no such copies needs no intent ("" is returned).
func (r *Root) beginRenameFile(ti int, from, to string, others []int) (string, syscall.Errno) {
	if len(others) == 0 {
		return "", 0
	}
	in := intent{Op: opRenameFile, From: from, To: to, Tiers: []string{r.tiers[ti].Name}}
	for _, tj := range others {
		in.Tiers = append(in.Tiers, r.tiers[tj].Name)
	}
	id, err := r.journal.begin(in)
	if err != nil {
		r.log.Error("rename: cannot write the journal intent", "from", from, "to", to, "err", err)
		return "", syscall.EIO
	}
	return id, 0
}

func (r *Root) endRenameFile(id, to string) {
	if id == "" {
		return
	}
	if err := r.journal.end(id); err != nil {
		r.log.Warn("rename: cannot clear the journal intent", "path", to, "id", id, "err", err)
	}
}

// removeReplaced removes the copies of a replaced target on tiers tis.
func (r *Root) removeReplaced(to string, tis []int) {
	for _, tj := range tis {
		if err := r.tiers[tj].Unlink(to); err != nil && !missing(err) {
			r.log.Warn("rename: could not remove the replaced target", "path", to, "tier", r.tiers[tj].Name, "err", err)
		}
	}
}

// replayRenameFile finishes a rename-file intent after a crash. The
// source's tier decides: if the source name is gone there and the
// target is there, the rename happened (nothing else could change
// either name while it ran) and the replaced copies on the other tiers
// are removed; otherwise it did not happen and nothing is done.
func (r *Root) replayRenameFile(in intent) error {
	if len(in.Tiers) < 2 {
		return fmt.Errorf("rename-file intent with %d tiers", len(in.Tiers))
	}
	tis := make([]int, len(in.Tiers))
	for i, name := range in.Tiers {
		if tis[i] = r.tierIndex(name); tis[i] < 0 {
			return fmt.Errorf("rename-file intent names unknown tier %q", name)
		}
	}
	src := r.tiers[tis[0]]
	var st unix.Stat_t
	if err := src.Lstat(in.From, &st); !missing(err) {
		return err // nil: the source is still there, the rename did not happen
	}
	if err := src.Lstat(in.To, &st); missing(err) {
		return nil // neither name: nothing to finish
	} else if err != nil {
		return err
	}
	r.log.Warn("finishing a rename interrupted by a crash", "from", in.From, "to", in.To, "tiers", in.Tiers)
	dir, _ := splitPath(in.To)
	for _, tj := range tis[1:] {
		if err := r.tiers[tj].Unlink(in.To); err != nil && !missing(err) {
			return fmt.Errorf("remove the replaced %s on tier %s: %w", in.To, r.tiers[tj].Name, err)
		}
		if err := r.tiers[tj].FsyncDir(dir); err != nil && !missing(err) {
			return fmt.Errorf("fsync %s on tier %s: %w", dir, r.tiers[tj].Name, err)
		}
	}
	return nil
}

// renameDir renames a directory on every tier holding it. With more
// than one tier involved the steps are journaled first, so a crash in
// the middle is completed at the next mount.
func (n *node) renameDir(from, to string, np *node, target map[int]uint32) syscall.Errno {
	for ti, typ := range target {
		if typ != unix.S_IFDIR {
			return syscall.ENOTDIR
		}
		ents, err := n.r.tiers[ti].ReadDir(to)
		if err != nil {
			return errno(err)
		}
		if len(ents) > 0 {
			return syscall.ENOTEMPTY
		}
	}
	copies, e := n.dirCopiesOf(from)
	if e != 0 {
		return e
	}
	if len(copies) == 0 {
		return syscall.ENOENT
	}
	in := intent{Op: opRenameDir, From: from, To: to}
	for _, ti := range copies {
		in.Tiers = append(in.Tiers, n.r.tiers[ti].Name)
	}
	for ti := range target {
		if !contains(copies, ti) {
			in.Tiers = append(in.Tiers, n.r.tiers[ti].Name)
		}
	}
	if len(in.Tiers) == 1 {
		return n.r.renameDirOn(copies[0], from, to, np)
	}
	id, err := n.r.journal.begin(in)
	if err != nil {
		n.r.log.Error("rename: cannot write the journal intent", "from", from, "to", to, "err", err)
		return syscall.EIO
	}
	if e := n.r.applyRenameDir(in, np); e != 0 {
		return e // the intent stays: the next mount finishes the job
	}
	if err := n.r.journal.end(id); err != nil {
		n.r.log.Warn("rename: cannot clear the journal intent", "id", id, "err", err)
	}
	n.r.removeReplacedDirs(to, copies, target)
	return 0
}

// removeReplacedDirs removes the copies of a directory that a rename
// replaced on tiers where the source had none to rename over them. They
// are empty, but left in the union they would lend the directory their
// mode, owner, times and identity wherever they come first in the rule
// order. A crash before this leaves them, as applyRenameDir does.
func (r *Root) removeReplacedDirs(to string, copies []int, target map[int]uint32) {
	for ti := range target {
		if contains(copies, ti) {
			continue
		}
		if err := r.tiers[ti].Rmdir(to); err != nil && !missing(err) {
			r.log.Warn("rename: could not remove the replaced directory", "path", to, "tier", r.tiers[ti].Name, "err", err)
		}
	}
}

// applyRenameDir carries out a rename-dir intent; it is idempotent, so
// replay after a crash runs the same code. np, when known, is the new
// parent's node, whose tier mask learns the new copies.
func (r *Root) applyRenameDir(in intent, np *node) syscall.Errno {
	for i, name := range in.Tiers {
		ti := r.tierIndex(name)
		if ti < 0 {
			r.log.Error("journal names an unknown tier", "tier", name)
			return syscall.EIO
		}
		if i == 1 {
			r.crashAt("dir-rename-between-tiers")
		}
		var st unix.Stat_t
		err := r.tiers[ti].Lstat(in.From, &st)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			if e := r.renameDirOn(ti, in.From, in.To, np); e != 0 {
				return e
			}
		case err == nil || missing(err):
			// Done before the crash, or never here; an empty target
			// left on this tier is harmless in the union.
		default:
			return errno(err)
		}
	}
	return 0
}

// renameDirOn renames directory from to to on tier ti.
func (r *Root) renameDirOn(ti int, from, to string, np *node) syscall.Errno {
	if np != nil {
		if e := np.ensureOn(ti); e != 0 {
			return e
		}
	} else {
		dir, _ := splitPath(to)
		if e := r.ensureDirPath(ti, dir); e != 0 {
			return e
		}
	}
	return errno(r.tiers[ti].Rename(from, to, 0))
}

func (r *Root) tierIndex(name string) int {
	for i, t := range r.tiers {
		if t.Name == name {
			return i
		}
	}
	return -1
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
