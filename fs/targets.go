package fs

// AddMoveTargets adds tiers the mover may move files to (after a config
// reload), so that files moved there keep their inode numbers. Tiers are
// never removed while mounted: a file moved to a tier that a new config
// no longer names as a target still carries its number in the xattr, and
// dropping the tier would change st_ino under a live file.
func (r *Root) AddMoveTargets(ts []int) {
	var add uint64
	for _, ti := range ts {
		add |= bit(ti)
	}
	r.moveTargets.Or(add)
}

// isMoveTarget reports whether files on tier ti may have been moved
// there, and so may keep their inode number in an xattr.
func (r *Root) isMoveTarget(ti int) bool {
	return r.moveTargets.Load()&bit(ti) != 0
}
