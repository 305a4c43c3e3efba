package tiers

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Reserve is free space a tier keeps: Bytes, or Percent of its capacity
// when Percent is set. The zero Reserve keeps nothing.
type Reserve struct {
	Bytes   int64
	Percent float64
}

// Of returns the reserve in bytes on a filesystem of capacity bytes.
func (r Reserve) Of(capacity uint64) uint64 {
	if r.Percent > 0 {
		return uint64(float64(capacity) * r.Percent / 100)
	}
	return uint64(r.Bytes)
}

// IsZero reports whether r keeps nothing.
func (r Reserve) IsZero() bool { return r.Bytes == 0 && r.Percent == 0 }

// Space is a tier's filesystem as its last sample saw it.
type Space struct {
	Capacity  uint64 // bytes
	Avail     uint64 // bytes a caller other than root may still write
	Files     uint64 // inodes in all; 0 where the filesystem has no fixed count
	FreeFiles uint64 // inodes a caller other than root may still use
	Fsid      unix.Fsid
	Sampled   bool // false until the first sample
}

// space holds the last sample; Space values are small enough to copy.
type space struct{ p atomic.Pointer[Space] }

// SampleSpace reads the tier's free space now and keeps it for Space.
// The health probe calls it every round; callers that just saw ENOSPC
// call it to stop placing files here before the next round.
func (t *Tier) SampleSpace() (Space, error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(t.root, &sfs); err != nil {
		return t.Space(), err
	}
	t.storeSpace(&sfs)
	return t.Space(), nil
}

func (t *Tier) storeSpace(sfs *unix.Statfs_t) {
	bsize := uint64(sfs.Bsize)
	if sfs.Frsize > 0 {
		bsize = uint64(sfs.Frsize)
	}
	t.space.p.Store(&Space{
		Capacity:  uint64(sfs.Blocks) * bsize,
		Avail:     uint64(sfs.Bavail) * bsize,
		Files:     uint64(sfs.Files),
		FreeFiles: uint64(sfs.Ffree),
		Fsid:      sfs.Fsid,
		Sampled:   true,
	})
}

// Space returns the last sample of the tier's free space (zero before
// the first).
func (t *Tier) Space() Space {
	if p := t.space.p.Load(); p != nil {
		return *p
	}
	return Space{}
}

// Reserves returns the tier's min_free and target_free in force.
func (t *Tier) Reserves() (minFree, targetFree Reserve) {
	r := t.reserves.Load()
	return r[0], r[1]
}

// SetReserves puts new min_free and target_free into force (on reload):
// they are thresholds on the samples, so nothing else changes with them.
func (t *Tier) SetReserves(minFree, targetFree Reserve) {
	t.reserves.Store(&[2]Reserve{minFree, targetFree})
}

// Short reports whether the last sample found the tier below its
// min_free, or out of inodes: a tier that is short takes no new files
// and is no mover's destination.
func (t *Tier) Short() bool { return !t.FitsIn(t.Space(), 0) }

// BelowTarget reports whether the last sample found the tier below its
// target_free: the mover then makes room on it.
func (t *Tier) BelowTarget() bool { return t.BelowTargetIn(t.Space()) }

// below reports whether writing size more bytes (and one inode) would
// leave the space under r, or no inode free.
func (s Space) below(r Reserve, size uint64) bool {
	if s.Files > 0 && s.FreeFiles == 0 {
		return true
	}
	if r.IsZero() && size == 0 {
		return false
	}
	return s.Avail < size || s.Avail-size < r.Of(s.Capacity)
}

func (t *Tier) minFree() Reserve    { lo, _ := t.Reserves(); return lo }
func (t *Tier) targetFree() Reserve { _, hi := t.Reserves(); return hi }
