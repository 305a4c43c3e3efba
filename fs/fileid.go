package fs

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// inoXattr keeps a moved file's identity: the inode number and the node
// generation the mount showed for it before the move (16 bytes, big
// endian), so that neither st_ino nor the kernel's node changes when its
// data changes tier. Without the generation, a file moved off a tier and
// one born there later with the same backing inode number could look
// like one file to go-fuse (same number, birth times within one tick of
// the coarse clock), which then served both names from one node: one of
// them unreadable. Files moved before generations were kept hold the
// number alone (8 bytes). A tier that cannot hold the attribute (on a
// Linux NFS client, trusted.* attributes are refused) shows a moved file
// with its own number and birth time.
const inoXattr = tiers.OwnXattrPrefix + "ino"

// keptGen marks a generation that is not a birth time: that of a file
// moved before generations were kept, or one made up for a file whose
// tier records no birth time. No file born on a tier has it, since birth
// times in nanoseconds stay below 1<<63 until the year 2262.
const keptGen = 1 << 63

// birthSettle is how old a file must be before it moves. A moved file
// keeps its birth time as its generation, and the tier it leaves may
// give its inode number to the next file born there; file times come
// from the kernel's coarse clock (a tick is at most 10 ms), so once the
// file is older than a tick no later file can share both.
const birthSettle = 20 * time.Millisecond

// fileID is the identity the mount shows for p, found on tier ti with
// stat st and generation gen (its birth time): the inode number and node
// generation it kept from before a move, or those of the copy.
func (r *Root) fileID(ti int, p string, st *unix.Stat_t, gen uint64) (uint64, uint64) {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return r.dirID(ti, p, st, gen)
	case unix.S_IFREG:
		if !r.isMoveTarget(ti) {
			break
		}
		var b [16]byte
		n, err := r.tiers[ti].Getxattr(p, inoXattr, b[:])
		switch {
		case err == nil && n == 16:
			return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
		case err == nil && n == 8:
			return binary.BigEndian.Uint64(b[:8]), gen | keptGen
		}
	}
	return ino(ti, st.Ino), gen
}

// movedID is the identity the copy of file p, moving off tier src
// (where it has stat st and birth time gen), must keep: that of the node
// the kernel holds, if any, else the one a lookup would give. A
// generation that is no birth time (the tier records none) becomes a
// random one marked keptGen, so that the copy never shares its identity
// with a file born on the tier it leaves.
//
// The node at p must hold the file found there: right after a rename
// replaced p, until go-fuse moves the renamed node to p, it is the
// replaced file's, and the copy would carry that file's identity (two
// files with one identity after a remount, served from one node). Such
// a move is given up (ErrChanged) and tried again by a later pass.
func (r *Root) movedID(src int, p string, st *unix.Stat_t, gen uint64) (sino, sgen uint64, err error) {
	if n := r.knownNode(p); n != nil {
		if int(n.tier.Load()) != src || n.backing.Load() != st.Ino {
			return 0, 0, ErrChanged
		}
		id := n.StableAttr()
		sino, sgen = id.Ino, id.Gen
	} else {
		sino, sgen = r.fileID(src, p, st, gen)
	}
	if sgen == 0 {
		sgen = rand.Uint64() | keptGen
	}
	return sino, sgen, nil
}

// keptIDBytes encodes a moved file's identity for inoXattr.
func keptIDBytes(sino, sgen uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, sino), sgen)
}

// settleBirth waits until a file whose generation is its birth time gen
// is birthSettle old (see birthSettle).
func settleBirth(ctx context.Context, gen uint64) error {
	if gen&keptGen != 0 {
		return nil
	}
	d := min(time.Until(time.Unix(0, int64(gen)).Add(birthSettle)), birthSettle)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
