package fs

import (
	"fmt"
	"math/rand/v2"

	"golang.org/x/sys/unix"
)

// CopyDir makes directory p, which the mount shows from another tier,
// exist on tier dst as well, with its mode, owner, identity and extended
// attributes. The mover does it for a directory that only a tier no rule
// names holds, so that the tier can be retired without the directory
// (an empty mailbox, say) vanishing. The copy is made under a temporary
// name in dst's MovingName and renamed into place complete: a crash
// leaves either no copy (the temporary is cleared at mount) or a whole
// one, and the source copy is never touched.
func (r *Root) CopyDir(p string, dst int) error {
	if dst < 0 || dst >= len(r.tiers) {
		return fmt.Errorf("copy directory %s: no tier %d", p, dst)
	}
	r.tree.RLock() // no directory rename half done
	defer r.tree.RUnlock()
	r.dirCopies.Lock() // no rmdir that would miss the copy
	defer r.dirCopies.Unlock()
	td := r.tiers[dst]
	var st unix.Stat_t
	if err := td.Lstat(p, &st); err == nil {
		return nil // made meanwhile (a file placed in it)
	}
	from, e := r.visibleDir(p, dst, &st)
	if e != 0 {
		return fmt.Errorf("copy directory %s to tier %s: %w", p, td.Name, e)
	}
	dir, _ := splitPath(p)
	if e := r.ensureDirPath(dst, dir); e != 0 {
		return fmt.Errorf("create %s on tier %s: %w", dir, td.Name, e)
	}
	tmp, err := r.dirTemp(from, dst, p, &st)
	if err != nil {
		return err
	}
	r.crashAt("copydir-after-mkdir", "path", p)
	if err := td.Rename(tmp, p, unix.RENAME_NOREPLACE); err != nil {
		td.Rmdir(tmp)
		if err == unix.EEXIST {
			return nil
		}
		return fmt.Errorf("rename directory %s into place on tier %s: %w", p, td.Name, err)
	}
	r.markDir(p, dst)
	r.crashAt("copydir-after-rename", "path", p)
	if err := td.FsyncDir(dir); err != nil {
		return fmt.Errorf("fsync %s on tier %s: %w", dir, td.Name, err)
	}
	return nil
}

// dirTemp makes the temporary directory that becomes p's copy on tier
// dst, with the mode, owner and times in st and what replicateDir copies from
// tier from.
func (r *Root) dirTemp(from, dst int, p string, st *unix.Stat_t) (string, error) {
	td := r.tiers[dst]
	tmp := fmt.Sprintf("%s/dir-%016x", td.MovingName(), rand.Uint64())
	if err := td.Mkdir(tmp, 0o700, nil); err != nil {
		return "", fmt.Errorf("create a temporary directory on tier %s: %w", td.Name, err)
	}
	err := td.Chown(tmp, int(st.Uid), int(st.Gid))
	if err == nil {
		err = td.Chmod(tmp, st.Mode&07777)
	}
	if err == nil { // the copy adds nothing: the directory's times stay
		err = td.Utimens(tmp, []unix.Timespec{st.Atim, st.Mtim})
	}
	if err != nil {
		td.Rmdir(tmp)
		return "", fmt.Errorf("copy directory %s to tier %s: %w", p, td.Name, err)
	}
	r.replicateDirTo(from, dst, p, tmp)
	return tmp, nil
}
