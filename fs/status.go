package fs

import "time"

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
	// ClockSkew is an nfs tier's last measured clock skew (the server's
	// time minus this host's), absent until measured.
	ClockSkew   *float64   `json:"clock_skew_seconds,omitempty"`
	ClockSkewAt *time.Time `json:"clock_skew_measured,omitempty"`
	// Space is the health probe's last sample, which placement reads
	// (nil before the first).
	Space *SpaceStatus `json:"space,omitempty"`
	// Spilled counts the files recorded as spilled to this tier (their
	// rule's tier was short): the mover brings the young ones home.
	Spilled int `json:"spilled,omitempty"`
}

// SpaceStatus is a tier's free space as placement sees it: the health
// probe's last sample (or a resample after a create failed with ENOSPC),
// with min_free and target_free in bytes of its capacity.
type SpaceStatus struct {
	Capacity    uint64 `json:"capacity"`
	Free        uint64 `json:"free"`
	Files       uint64 `json:"files"` // inodes in all; 0: no fixed count
	FreeFiles   uint64 `json:"free_files"`
	MinFree     uint64 `json:"min_free"`
	TargetFree  uint64 `json:"target_free"`
	Short       bool   `json:"short"`        // new files go to an overflow tier
	BelowTarget bool   `json:"below_target"` // the mover makes room
}

// Overflow counts new files created on tier To because their rule's tier
// From was short or answered ENOSPC.
type Overflow struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Creates uint64 `json:"creates"`
}

// Status is a snapshot of a mount's state.
type Status struct {
	Tiers    []TierStatus      `json:"tiers"`
	Requests map[string]uint64 `json:"requests"` // FUSE requests by opcode
	Cache    CacheStats        `json:"cache"`
	Nodes    NodeStats         `json:"nodes"`
	// Overflows are the creates placed off their rule's tier for want of
	// space; NoSpaceRetries the creates retried on another tier after
	// ENOSPC or EDQUOT.
	Overflows      []Overflow `json:"overflows,omitempty"`
	NoSpaceRetries uint64     `json:"nospace_retries"`
	// Cluster counts the users' leases of a mount in a cluster.
	Cluster *LeaseStats `json:"cluster,omitempty"`
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
// is cheap (no backend call: space is the health probe's last sample)
// and safe to call from any goroutine.
func (r *Root) Status() Status {
	s := Status{Requests: r.requests.snapshot(), Cache: r.cacheStats(), Nodes: r.nodes.stats(),
		Overflows: r.overflowStatus(), NoSpaceRetries: r.space.retries.Load(), Cluster: r.leases.stats()}
	for ti, t := range r.tiers {
		ts := TierStatus{Name: t.Name, Path: t.Path, Kind: t.Kind, Up: t.Up(), Error: t.LastError(), Space: spaceStatus(t),
			Spilled: r.spilledCount(ti)}
		ts.DirHits, ts.DirMisses = t.DirCacheStats()
		if c, ok := t.ClockSkew(); ok {
			skew := c.Skew.Seconds()
			ts.ClockSkew, ts.ClockSkewAt = &skew, &c.At
		}
		if sp := t.Space(); ts.Up && sp.Sampled {
			// The health probe's sample, at most a round old: a statfs
			// here would cost an NFS round trip per tier and per status.
			ts.Bytes, ts.BytesFree = sp.Capacity, sp.Avail
			ts.Files, ts.FilesFree = sp.Files-sp.FreeFiles, sp.FreeFiles
		}
		s.Tiers = append(s.Tiers, ts)
	}
	return s
}
