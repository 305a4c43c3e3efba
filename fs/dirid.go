package fs

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// dirIDXattr keeps, on each copy of a directory made after its first,
// the identity the directory showed when the copy was made: inode number
// and generation. A lookup answers from the copy first in the name's
// rule order, and a copy made since (ensureOn) or a rename to a name
// with another rule can make that a different copy; without the kept
// identity st_ino would change under a directory nobody replaced, and
// the node the kernel holds for it (a working directory, an open
// descriptor) would be swapped for a new one. A tier that cannot hold
// trusted.* attributes (an NFS client) shows its copy's own number.
const dirIDXattr = tiers.OwnXattrPrefix + "dir"

// dirID returns the inode number and generation of directory p whose
// copy on tier ti has stat st and generation gen.
func (r *Root) dirID(ti int, p string, st *unix.Stat_t, gen uint64) (uint64, uint64) {
	var b [16]byte
	if n, err := r.tiers[ti].Getxattr(p, dirIDXattr, b[:]); err == nil && n == len(b) {
		return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	}
	return ino(ti, st.Ino), gen
}

// replicateDir gives the new copy of directory p on tier ti what the
// mount shows of the directory beyond mode and owner, read from its copy
// on tier from: its identity and its extended attributes, since either
// copy may be the one that answers. Best effort: the copy exists, and an
// attribute the tier refuses is logged, not fatal to the create that
// needed the copy.
func (r *Root) replicateDir(from, ti int, p string) { r.replicateDirTo(from, ti, p, p) }

// replicateDirTo is replicateDir onto the directory at path to on tier
// ti (a temporary that becomes p).
func (r *Root) replicateDirTo(from, ti int, p, to string) {
	src, dst := r.tiers[from], r.tiers[ti]
	var st unix.Stat_t
	gen, err := src.LstatGen(p, &st)
	if err != nil {
		return
	}
	sino, sgen := r.dirID(from, p, &st, gen)
	id := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, sino), sgen)
	dst.Setxattr(to, dirIDXattr, id, 0) // refused on NFS: see dirIDXattr
	buf := make([]byte, 64<<10)
	n, err := src.Listxattr(p, buf)
	if err != nil {
		return
	}
	val := make([]byte, 64<<10)
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) == 0 || ownXattr(string(name)) {
			continue
		}
		sz, err := src.Getxattr(p, string(name), val)
		if err == nil {
			err = dst.Setxattr(to, string(name), val[:sz], 0)
		}
		if err != nil {
			r.log.Warn("copy of a directory: could not copy an extended attribute", "path", p, "tier", dst.Name, "xattr", string(name), "err", err)
		}
	}
}
