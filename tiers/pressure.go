package tiers

// Questions about space asked of a Space value: the mover projects a
// tier's space through the moves of a pass (the sample lags them), and
// Short and BelowTarget ask them of the last sample.

// FitsIn reports whether size more bytes (and one inode) on a tier whose
// space is s would leave it at or above its min_free. A filesystem that
// reports no capacity (some FUSE and network ones) tells nothing: it fits.
func (t *Tier) FitsIn(s Space, size uint64) bool {
	return !s.Sampled || s.Capacity == 0 || !s.below(t.minFree(), size)
}

// BelowTargetIn reports whether a tier whose space is s is below its
// target_free (or out of inodes).
func (t *Tier) BelowTargetIn(s Space) bool {
	hi := t.targetFree()
	return s.Sampled && s.Capacity > 0 && !hi.IsZero() && s.below(hi, 0)
}

// Shortfall returns how many bytes must be freed on a tier whose space is
// s to bring it back to its target_free: at least 1 when it is out of
// inodes, 0 when it is not below target.
func (t *Tier) Shortfall(s Space) uint64 {
	if !t.BelowTargetIn(s) {
		return 0
	}
	want := t.targetFree().Of(s.Capacity)
	if s.Avail >= want {
		return 1 // short of inodes only: any file frees one
	}
	return want - s.Avail
}

// SameFilesystem reports whether t and o are directories of one
// filesystem (the same st_dev, or the same non-zero f_fsid as two NFS
// mounts of one export show, or for two btrfs tiers the same filesystem
// UUID, since subvolumes differ in both): moving files from one to the
// other frees no space. It reads only what Open learned.
func (t *Tier) SameFilesystem(o *Tier) bool {
	if t.btrfsFS != nil && o.btrfsFS != nil {
		return *t.btrfsFS == *o.btrfsFS
	}
	if t.rootDev == o.rootDev {
		return true
	}
	a, b := t.Space().Fsid, o.Space().Fsid
	return a == b && a.Val != [2]int32{}
}
