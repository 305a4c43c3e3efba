package fs

import (
	"golang.org/x/sys/unix"
)

// TierStatus is one tier as "tierfs status" shows it.
type TierStatus struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Kind      string `json:"kind"`
	Up        bool   `json:"up"`
	Error     string `json:"error,omitempty"`
	Bytes     uint64 `json:"bytes"`
	BytesFree uint64 `json:"bytes_free"`
	Files     uint64 `json:"files"` // inodes in use on the tier's filesystem
	FilesFree uint64 `json:"files_free"`
	// DirHits and DirMisses count backend calls that found their
	// directory's descriptor cached, and those that walked the path.
	DirHits   uint64 `json:"dir_cache_hits"`
	DirMisses uint64 `json:"dir_cache_misses"`
}

// Status is a snapshot of a mount's state.
type Status struct {
	Tiers    []TierStatus      `json:"tiers"`
	Requests map[string]uint64 `json:"requests"` // FUSE requests by opcode
	Cache    CacheStats        `json:"cache"`
	Nodes    NodeStats         `json:"nodes"`
}

// NodeStats counts the nodes kept for inodes the kernel holds.
type NodeStats struct {
	Live      int64  `json:"live"`      // nodes held now (the root aside)
	Max       int64  `json:"max"`       // the cap; 0: none
	Pruned    uint64 `json:"pruned"`    // entries (nodes, by prune) the kernel dropped when asked, to keep under the cap
	Forgotten uint64 `json:"forgotten"` // nodes freed after the kernel forgot their inode
	// Method is how the kernel is asked to drop nodes, once it was
	// first: PruneMethodPrune (FUSE_NOTIFY_PRUNE, Linux 6.17+) or
	// PruneMethodEntry (FUSE_NOTIFY_INVAL_ENTRY).
	Method string `json:"method,omitempty"`
}

// CacheStats counts lookups answered by the metadata cache.
type CacheStats struct {
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	// Absent counts lookups (and rename targets) that a directory's
	// name index answered "no such file" without asking the tiers.
	Absent uint64 `json:"absent"`
	// IndexBytes is what the name indexes hold now, of IndexBudget.
	IndexBytes  int64 `json:"index_bytes"`
	IndexBudget int64 `json:"index_budget"`
}

// Status reports tier health, space, request counts and live nodes. It
// is cheap (one statfs per healthy tier) and safe to call from any
// goroutine.
func (r *Root) Status() Status {
	s := Status{Requests: r.requests.snapshot(), Cache: r.cacheStats(), Nodes: r.nodes.stats()}
	for _, t := range r.tiers {
		ts := TierStatus{Name: t.Name, Path: t.Path, Kind: t.Kind, Up: t.Up(), Error: t.LastError()}
		ts.DirHits, ts.DirMisses = t.DirCacheStats()
		var st unix.Statfs_t
		if ts.Up && t.Statfs(&st) == nil {
			bs := uint64(st.Bsize)
			ts.Bytes, ts.BytesFree = st.Blocks*bs, st.Bavail*bs
			ts.Files, ts.FilesFree = st.Files-st.Ffree, st.Ffree
		}
		s.Tiers = append(s.Tiers, ts)
	}
	return s
}
