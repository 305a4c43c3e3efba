package fs

import (
	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/tierfs/tierfs/tiers"
)

// onHealthChange runs when a tier goes down or comes back. The kernel
// may hold cached entries and attributes for names on that tier; drop
// them all so the next access asks tierfs, which answers EIO while the
// tier is down. It runs on the monitor's goroutine, never in a handler.
func (r *Root) onHealthChange(t *tiers.Tier, up bool) {
	if up {
		r.log.Info("tier is back", "tier", t.Name)
	} else {
		r.log.Error("tier is down; operations that need it fail with EIO", "tier", t.Name, "reason", t.LastError())
	}
	r.cache.invalidateAll()
	r.nameEpoch.Add(1) // a tier that comes back may hold other names
	go invalidateTree(r.root.EmbeddedInode())
}

// invalidateTree drops every cached dentry below dir.
func invalidateTree(dir *gofs.Inode) {
	for name, ch := range dir.Children() {
		if ch.IsDir() {
			invalidateTree(ch)
		}
		dir.NotifyEntry(name)
	}
}
