package fs

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// maxTiers bounds the tier count so a directory's tiers fit a bitmask
// and a tier index fits the top byte of an inode number.
const maxTiers = policy.MaxTiers

// reservedPrefix marks tierfs's own files at a tier root (marker,
// journal); they are hidden from the mount.
const reservedPrefix = ".tierfs"

// node is a file or directory of the mount. Files live on one tier;
// directories may exist on several.
type node struct {
	gofs.Inode
	r *Root

	tier  atomic.Int32           // regular files, symlinks, specials: the tier holding the data
	dirs  atomic.Uint64          // directories: bitmask of tiers known to hold it
	kept  atomic.Pointer[string] // files whose name was replaced: see KeptDir
	opens atomic.Int32           // open handles (the mover skips open files)
	// backing is the data's inode number on its tier. go-fuse moves a
	// renamed name's node only after the rename's handler returned, so
	// for a moment the node at a path can be the file the rename
	// replaced: the mover checks it holds the file it found there.
	backing atomic.Uint64
	// writers counts the handles open for writing: their writes go to
	// the tier beside tierfs (passthrough), so a cached stat of the file
	// would go stale under them.
	writers atomic.Int32

	// removed is a directory's last attributes once rmdir or a rename
	// over it removed it: a process holding it open, or as its working
	// directory, can still fstat it, as natively (see statData).
	removed atomic.Pointer[unix.Stat_t]

	state   atomic.Uint32 // st* bits: use and bookkeeping for the pruner (live.go)
	nextNew *node         // the next node on liveNodes.pending

	// names is held for writing while a rename changes which tier holds
	// a name in this directory (rename on one tier, then unlink on
	// another), so that a lookup probing the tiers in turn cannot fall
	// between the two steps. The kernel serialises most lookups with
	// renames itself, but not the revalidation of a cached entry.
	names sync.RWMutex

	index atomic.Pointer[nameIndex] // directories on nfs tiers: see names.go

	// user is the lease of the user whose directory the node is or lies
	// beneath (lease.go); nil outside a cluster and outside them.
	user *userLease
}

var (
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeSetattrer      = (*node)(nil)
	_ gofs.NodeCreater        = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeMkdirer        = (*node)(nil)
	_ gofs.NodeMknoder        = (*node)(nil)
	_ gofs.NodeSymlinker      = (*node)(nil)
	_ gofs.NodeReadlinker     = (*node)(nil)
	_ gofs.NodeLinker         = (*node)(nil)
	_ gofs.NodeUnlinker       = (*node)(nil)
	_ gofs.NodeRmdirer        = (*node)(nil)
	_ gofs.NodeRenamer        = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeFsyncer        = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeGetxattrer     = (*node)(nil)
	_ gofs.NodeSetxattrer     = (*node)(nil)
	_ gofs.NodeListxattrer    = (*node)(nil)
	_ gofs.NodeRemovexattrer  = (*node)(nil)
	_ gofs.NodeOnForgetter    = (*node)(nil)
)

func allTiers(n int) uint64 { return 1<<uint(n) - 1 }

func bit(ti int) uint64 { return 1 << uint(ti) }

// relPath is the node's path inside the mount ("" for the root). It
// fails for a node that is no longer linked into the tree, so that an
// operation on an unlinked file never resolves to the tier root.
func (n *node) relPath() (string, syscall.Errno) {
	if n == n.r.root {
		return "", 0
	}
	var parts []string
	var p *gofs.Inode = n.EmbeddedInode()
	root := n.r.root.EmbeddedInode()
	for p != root {
		name, parent := p.Parent()
		if parent == nil {
			return "", syscall.ESTALE
		}
		parts = append(parts, name)
		p = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/"), 0
}

// childPath is the path of name inside directory n.
func (n *node) childPath(name string) (string, syscall.Errno) {
	p, errno := n.relPath()
	if errno != 0 {
		return "", errno
	}
	if p == "" {
		return name, 0
	}
	return p + "/" + name, 0
}

// hidden reports whether name is tierfs's own and must not be visible.
func (n *node) hidden(name string) bool {
	return n == n.r.root && strings.HasPrefix(name, reservedPrefix)
}

func (n *node) tierOf() *tiers.Tier { return n.r.tiers[n.tier.Load()] }

// ino maps a backing inode to the number the mount shows. The tier goes
// in the top byte, so numbers from different tiers never collide, hard
// links share one number, and a path replaced by rename gets a new one.
func ino(ti int, backing uint64) uint64 {
	return uint64(ti+1)<<56 | backing&(1<<56-1)
}

// newChild returns the node for child name found on tier ti with inode
// number sino (see Root.fileID). gen tells apart files that reused an
// inode number, so a new file never inherits the node (and state) of a
// dead one the kernel still remembers. A node go-fuse already holds
// under the name for the same file is returned as it is: go-fuse would
// keep it and discard a new one anyway.
func (n *node) newChild(ctx context.Context, name string, ti int, st *unix.Stat_t, sino, gen, dirs uint64) *gofs.Inode {
	id := gofs.StableAttr{Mode: st.Mode & unix.S_IFMT, Ino: sino, Gen: gen}
	if in := n.GetChild(name); in != nil {
		known, ok := in.Operations().(*node)
		switch {
		case !ok:
		case in.StableAttr() == id:
			n.r.crashAt("lookup-known", "name", name)
			return known.again(ti, st, dirs)
		default:
			known.abandonNames() // go-fuse gives the name to another node
		}
	}
	if st.Nlink > 1 && id.Mode != unix.S_IFDIR {
		n.reachLinked(id)
	}
	ch := &node{r: n.r}
	ch.setUser(n, name)
	ch.tier.Store(int32(ti))
	ch.backing.Store(st.Ino)
	ch.dirs.Store(dirs)
	in := n.NewInode(ctx, ch, id)
	if known, ok := in.Operations().(*node); ok && known != ch {
		ch.unpinUser()
		return known.again(ti, st, dirs)
	}
	n.r.nodes.track(ch)
	return in
}

// again is a known node found by another lookup, on tier ti with stat
// st. Tier masks only grow while a directory lives, and this answer may
// include a copy made since. A file's data is where the lookup found
// it: a move whose commit did not find the node at its path (go-fuse
// attaches nodes only once a handler returned) could not point it at
// the copy.
func (n *node) again(ti int, st *unix.Stat_t, dirs uint64) *gofs.Inode {
	if dirs != 0 {
		n.dirs.Or(dirs)
	} else if !n.IsDir() && (n.tier.Load() != int32(ti) || n.backing.Load() != st.Ino) {
		// Nearly always unchanged: no store (and no cache line taken
		// from the other CPUs) on a lookup's path.
		n.tier.Store(int32(ti))
		n.backing.Store(st.Ino)
	}
	n.r.nodes.track(n)
	return n.EmbeddedInode()
}

// cred is the caller's identity for backend calls that create files.
func cred(ctx context.Context) *tiers.Cred {
	if c, ok := fuse.FromContext(ctx); ok {
		return &tiers.Cred{Uid: c.Uid, Gid: c.Gid, Pid: c.Pid}
	}
	return nil
}

// errno converts a backend error, keeping its errno.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return gofs.ToErrno(err)
}
