package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tierfs/tierfs/fs"
)

// The series read from fs.Status at scrape time.
var (
	descRequests = prometheus.NewDesc("tierfs_fuse_requests_total",
		"FUSE requests received from the kernel, by opcode.", []string{"op"}, nil)
	descCacheHits = prometheus.NewDesc("tierfs_cache_hits_total",
		"Lookups answered by the metadata cache.", nil, nil)
	descCacheMisses = prometheus.NewDesc("tierfs_cache_misses_total",
		"Lookups the metadata cache could not answer.", nil, nil)
	descCacheAbsent = prometheus.NewDesc("tierfs_cache_absent_total",
		"Lookups of missing names answered by a directory's name index, without asking the tiers.", nil, nil)
	descIndexBytes = prometheus.NewDesc("tierfs_name_index_bytes",
		"Bytes the directories' name indexes hold (their budget is a quarter of the metadata cache's).", nil, nil)
	descNodes = prometheus.NewDesc("tierfs_nodes",
		"Nodes the daemon keeps for inodes the kernel holds.", nil, nil)
	descNodesMax = prometheus.NewDesc("tierfs_nodes_max",
		"The cap on tierfs_nodes from [cache]; 0: no cap.", nil, nil)
	descNodesPruned = prometheus.NewDesc("tierfs_nodes_pruned_total",
		"Entries the kernel dropped when asked, to keep tierfs_nodes under the cap.", nil, nil)
	descNodesForgotten = prometheus.NewDesc("tierfs_nodes_forgotten_total",
		"Nodes freed after the kernel forgot their inode.", nil, nil)
	descTierUp = prometheus.NewDesc("tierfs_tier_up",
		"1 if the tier's health probe passes, 0 if the tier is down (its operations fail with EIO).", []string{"tier", "kind"}, nil)
	descTierSize = prometheus.NewDesc("tierfs_tier_size_bytes",
		"Size of the filesystem holding the tier.", []string{"tier"}, nil)
	descTierFree = prometheus.NewDesc("tierfs_tier_free_bytes",
		"Bytes available to tierfs on the filesystem holding the tier.", []string{"tier"}, nil)
	descTierFiles = prometheus.NewDesc("tierfs_tier_files",
		"Inodes in use on the filesystem holding the tier.", []string{"tier"}, nil)
	descTierFilesFree = prometheus.NewDesc("tierfs_tier_files_free",
		"Free inodes on the filesystem holding the tier.", []string{"tier"}, nil)
	descSpaceFree = prometheus.NewDesc("tierfs_tier_space_free_bytes",
		"Bytes available on the tier by the health probe's last sample, which placement reads.", []string{"tier"}, nil)
	descSpaceCapacity = prometheus.NewDesc("tierfs_tier_space_capacity_bytes",
		"Size of the tier's filesystem by the health probe's last sample.", []string{"tier"}, nil)
	descSpaceShort = prometheus.NewDesc("tierfs_tier_short",
		"1 if the tier is below its min_free or out of inodes: new files its rules place there go to an overflow tier.", []string{"tier"}, nil)
	descSpilled = prometheus.NewDesc("tierfs_tier_spilled_files",
		"Files recorded as spilled to the tier (their rule's tier was short); the mover takes the young ones home.", []string{"tier"}, nil)
	descOverflows = prometheus.NewDesc("tierfs_overflow_creates_total",
		"New files created on another tier (to) than their rule's (from), which was short or answered ENOSPC.", []string{"from", "to"}, nil)
	descNoSpaceRetries = prometheus.NewDesc("tierfs_create_nospace_retries_total",
		"Creates that failed with ENOSPC or EDQUOT and were retried on an overflow tier.", nil, nil)
	descClockSkew = prometheus.NewDesc("tierfs_tier_clock_skew_seconds",
		"An nfs tier's server clock minus this host's, as last measured (at mount, then every 10 minutes); mail ages by the server's times.", []string{"tier"}, nil)
	descLeasesHeld = prometheus.NewDesc("tierfs_cluster_leases_held",
		"Users whose lease this host holds now.", nil, nil)
	descLeaseUsers = prometheus.NewDesc("tierfs_cluster_users_known",
		"Users this host keeps a lease record of: held, or with nodes the kernel still holds; released users' records go.", nil, nil)
	descLeaseEvents = prometheus.NewDesc("tierfs_cluster_lease_events_total",
		"Lease events by kind: acquired, released (idle), refused (a request failed with EIO: another host held the user), hostchange (another host had served the user since), lost (the heartbeat lapsed), drop_error (a user's per-host state could not be removed).", []string{"event"}, nil)
	descLeaseProtocol = prometheus.NewDesc("tierfs_cluster_protocol_events_total",
		"The lease protocol's events by kind: waited (an acquisition waited for another host), stolen (taken over from a dead host), heartbeat_failures, broken_locks (stale dotlocks removed), lost (a release found the lease another host's).", []string{"event"}, nil)
	descDirHits = prometheus.NewDesc("tierfs_tier_dir_cache_hits_total",
		"Backend calls that found their directory's descriptor cached.", []string{"tier"}, nil)
	descDirMisses = prometheus.NewDesc("tierfs_tier_dir_cache_misses_total",
		"Backend calls that resolved their directory's path beneath the tier root.", []string{"tier"}, nil)
)

// statusCollector turns a status snapshot into metrics at scrape time.
type statusCollector struct{ status func() fs.Status }

func (statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descCacheHits, descCacheMisses, descCacheAbsent, descIndexBytes,
		descNodes, descNodesMax, descNodesPruned, descNodesForgotten, descTierUp, descTierSize, descTierFree, descTierFiles, descTierFilesFree,
		descDirHits, descDirMisses, descSpaceFree, descSpaceCapacity, descSpaceShort, descOverflows, descNoSpaceRetries, descClockSkew, descSpilled,
		descLeasesHeld, descLeaseUsers, descLeaseEvents, descLeaseProtocol} {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	for op, n := range s.Requests {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), op)
	}
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(s.Cache.Hits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(s.Cache.Misses))
	ch <- prometheus.MustNewConstMetric(descCacheAbsent, prometheus.CounterValue, float64(s.Cache.Absent))
	ch <- prometheus.MustNewConstMetric(descIndexBytes, prometheus.GaugeValue, float64(s.Cache.IndexBytes))
	ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(s.Nodes.Live))
	ch <- prometheus.MustNewConstMetric(descNodesMax, prometheus.GaugeValue, float64(s.Nodes.Max))
	ch <- prometheus.MustNewConstMetric(descNodesPruned, prometheus.CounterValue, float64(s.Nodes.Pruned))
	ch <- prometheus.MustNewConstMetric(descNodesForgotten, prometheus.CounterValue, float64(s.Nodes.Forgotten))
	for _, o := range s.Overflows {
		ch <- prometheus.MustNewConstMetric(descOverflows, prometheus.CounterValue, float64(o.Creates), o.From, o.To)
	}
	ch <- prometheus.MustNewConstMetric(descNoSpaceRetries, prometheus.CounterValue, float64(s.NoSpaceRetries))
	collectLeases(ch, s.Cluster)
	for _, t := range s.Tiers {
		collectSpace(ch, t)
		up := 0.0
		if t.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descTierUp, prometheus.GaugeValue, up, t.Name, t.Kind)
		ch <- prometheus.MustNewConstMetric(descDirHits, prometheus.CounterValue, float64(t.DirHits), t.Name)
		ch <- prometheus.MustNewConstMetric(descDirMisses, prometheus.CounterValue, float64(t.DirMisses), t.Name)
		ch <- prometheus.MustNewConstMetric(descSpilled, prometheus.GaugeValue, float64(t.Spilled), t.Name)
		if t.ClockSkew != nil {
			ch <- prometheus.MustNewConstMetric(descClockSkew, prometheus.GaugeValue, *t.ClockSkew, t.Name)
		}
		if !t.Up {
			continue // no space figures from a tier that does not answer
		}
		ch <- prometheus.MustNewConstMetric(descTierSize, prometheus.GaugeValue, float64(t.Bytes), t.Name)
		ch <- prometheus.MustNewConstMetric(descTierFree, prometheus.GaugeValue, float64(t.BytesFree), t.Name)
		ch <- prometheus.MustNewConstMetric(descTierFiles, prometheus.GaugeValue, float64(t.Files), t.Name)
		ch <- prometheus.MustNewConstMetric(descTierFilesFree, prometheus.GaugeValue, float64(t.FilesFree), t.Name)
	}
}

// collectSpace reports the tier's last space sample, if there is one.
func collectSpace(ch chan<- prometheus.Metric, t fs.TierStatus) {
	sp := t.Space
	if sp == nil {
		return
	}
	short := 0.0
	if sp.Short {
		short = 1
	}
	ch <- prometheus.MustNewConstMetric(descSpaceFree, prometheus.GaugeValue, float64(sp.Free), t.Name)
	ch <- prometheus.MustNewConstMetric(descSpaceCapacity, prometheus.GaugeValue, float64(sp.Capacity), t.Name)
	ch <- prometheus.MustNewConstMetric(descSpaceShort, prometheus.GaugeValue, short, t.Name)
}

// collectLeases reports a cluster member's lease counters (none outside
// a cluster).
func collectLeases(ch chan<- prometheus.Metric, l *fs.LeaseStats) {
	if l == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descLeasesHeld, prometheus.GaugeValue, float64(l.Held))
	ch <- prometheus.MustNewConstMetric(descLeaseUsers, prometheus.GaugeValue, float64(l.Users))
	for _, e := range []struct {
		event string
		n     uint64
	}{{"acquired", l.Acquired}, {"released", l.Released}, {"refused", l.Refused}, {"hostchange", l.Hostchanges},
		{"lost", l.Lost}, {"drop_error", l.DropErrors}} {
		ch <- prometheus.MustNewConstMetric(descLeaseEvents, prometheus.CounterValue, float64(e.n), e.event)
	}
	for event, n := range l.Protocol {
		ch <- prometheus.MustNewConstMetric(descLeaseProtocol, prometheus.CounterValue, float64(n), event)
	}
}
