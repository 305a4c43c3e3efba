package fs

import (
	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/tierfs/tierfs/tiers"
)

// onHealthChange runs when a tier goes down or comes back. The kernel
// may hold cached entries and attributes for names on that tier; drop
// them so the next access asks tierfs, which answers EIO while the tier
// is down. It runs on the monitor's goroutine, never in a handler.
func (r *Root) onHealthChange(t *tiers.Tier, up bool) {
	r.cache.invalidateAll()
	r.nameEpoch.Add(1) // a tier that comes back may hold other names
	if up {
		r.log.Info("tier is back", "tier", t.Name)
		go invalidateTree(r.root.EmbeddedInode())
		return
	}
	r.log.Error("tier is down; operations that need it fail with EIO", "tier", t.Name, "reason", t.LastError())
	go invalidateFilesOn(r.root.EmbeddedInode(), r.tierIndex(t.Name))
	// Its record file may be another one when it is back (an NFS mount
	// replaced): the next record opens it anew. Not here: an append may
	// hang on the lost tier.
	if ti := r.tierIndex(t.Name); ti >= 0 && ti < len(r.spilled) {
		go r.spilled[ti].close()
	}
}

// invalidateTree drops the cached dentries of the files below dir and
// the cached attributes of the directories. The directories' dentries
// stay: a directory the kernel forgot must be looked up again, and if
// another tier went down meanwhile that needs its node (knownCopies).
func invalidateTree(dir *gofs.Inode) {
	for name, ch := range dir.Children() {
		if ch.IsDir() {
			invalidateTree(ch)
			ch.NotifyContent(0, 0)
			continue
		}
		dir.NotifyEntry(name)
	}
}

// invalidateFilesOn drops the cached dentries of the files on tier ti
// below dir. Directories keep theirs: their children are looked up
// through tierfs anyway, and a directory the kernel forgot would have
// to be looked up again, which needs every tier that might hold a copy
// of it (a lost tmpfs tier would take the whole mail tree with it);
// its node remembers which tiers hold it (knownCopies).
func invalidateFilesOn(dir *gofs.Inode, ti int) {
	for name, ch := range dir.Children() {
		cn, ok := ch.Operations().(*node)
		switch {
		case ch.IsDir():
			invalidateFilesOn(ch, ti)
		case !ok || int(cn.tier.Load()) == ti:
			dir.NotifyEntry(name)
		}
	}
}
