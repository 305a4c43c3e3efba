package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/fs"
)

func fakeStatus() fs.Status {
	skew := 90.5
	return fs.Status{
		Requests: map[string]uint64{"CREATE": 5, "LOOKUP": 12},
		Cache:    fs.CacheStats{Hits: 7, Misses: 3, Absent: 5, IndexBytes: 960},
		Nodes:    fs.NodeStats{Live: 1900, Max: 2000, Pruned: 40, Forgotten: 38},
		Tiers: []fs.TierStatus{
			{Name: "fast", Kind: "local", Up: true, Bytes: 1000, BytesFree: 400, Files: 10, FilesFree: 90, DirHits: 11, DirMisses: 2},
			{Name: "slow", Kind: "nfs", Up: false, Error: "stat: EIO", ClockSkew: &skew},
		},
	}
}

func TestStatusCollector(t *testing.T) {
	m := New(fakeStatus)
	want := `
# HELP tierfs_fuse_requests_total FUSE requests received from the kernel, by opcode.
# TYPE tierfs_fuse_requests_total counter
tierfs_fuse_requests_total{op="CREATE"} 5
tierfs_fuse_requests_total{op="LOOKUP"} 12
# HELP tierfs_cache_hits_total Lookups answered by the metadata cache.
# TYPE tierfs_cache_hits_total counter
tierfs_cache_hits_total 7
# HELP tierfs_cache_absent_total Lookups of missing names answered by a directory's name index, without asking the tiers.
# TYPE tierfs_cache_absent_total counter
tierfs_cache_absent_total 5
# HELP tierfs_name_index_bytes Bytes the directories' name indexes hold (their budget is a quarter of the metadata cache's).
# TYPE tierfs_name_index_bytes gauge
tierfs_name_index_bytes 960
# HELP tierfs_nodes Nodes the daemon keeps for inodes the kernel holds.
# TYPE tierfs_nodes gauge
tierfs_nodes 1900
# HELP tierfs_nodes_max The cap on tierfs_nodes from [cache]; 0: no cap.
# TYPE tierfs_nodes_max gauge
tierfs_nodes_max 2000
# HELP tierfs_nodes_pruned_total Entries the kernel dropped when asked, to keep tierfs_nodes under the cap.
# TYPE tierfs_nodes_pruned_total counter
tierfs_nodes_pruned_total 40
# HELP tierfs_nodes_forgotten_total Nodes freed after the kernel forgot their inode.
# TYPE tierfs_nodes_forgotten_total counter
tierfs_nodes_forgotten_total 38
# HELP tierfs_tier_up 1 if the tier's health probe passes, 0 if the tier is down (its operations fail with EIO).
# TYPE tierfs_tier_up gauge
tierfs_tier_up{kind="local",tier="fast"} 1
tierfs_tier_up{kind="nfs",tier="slow"} 0
# HELP tierfs_tier_free_bytes Bytes available to tierfs on the filesystem holding the tier.
# TYPE tierfs_tier_free_bytes gauge
tierfs_tier_free_bytes{tier="fast"} 400
# HELP tierfs_tier_dir_cache_hits_total Backend calls that found their directory's descriptor cached.
# TYPE tierfs_tier_dir_cache_hits_total counter
tierfs_tier_dir_cache_hits_total{tier="fast"} 11
tierfs_tier_dir_cache_hits_total{tier="slow"} 0
# HELP tierfs_tier_clock_skew_seconds An nfs tier's server clock minus this host's, as last measured (at mount, then every 10 minutes); mail ages by the server's times.
# TYPE tierfs_tier_clock_skew_seconds gauge
tierfs_tier_clock_skew_seconds{tier="slow"} 90.5
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"tierfs_fuse_requests_total", "tierfs_cache_hits_total", "tierfs_cache_absent_total", "tierfs_name_index_bytes", "tierfs_nodes", "tierfs_nodes_max",
		"tierfs_nodes_pruned_total", "tierfs_nodes_forgotten_total", "tierfs_tier_up", "tierfs_tier_free_bytes",
		"tierfs_tier_dir_cache_hits_total", "tierfs_tier_clock_skew_seconds")
	if err != nil {
		t.Error(err)
	}
}

func TestTierObserver(t *testing.T) {
	m := New(fakeStatus)
	obs := m.TierObserver("fast")
	for range 3 {
		obs("lstat", 50*time.Microsecond, nil)
	}
	obs("lstat", time.Millisecond, fmt.Errorf("lstat x: %w", unix.ENOENT))
	obs("open", time.Millisecond, errors.New("strange"))
	m.TierObserver("slow")("mkdir", time.Second, unix.EIO)

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"ops fast lstat", testutil.ToFloat64(m.tierOps.WithLabelValues("fast", "lstat")), 4},
		{"ops fast open", testutil.ToFloat64(m.tierOps.WithLabelValues("fast", "open")), 1},
		{"ops slow mkdir", testutil.ToFloat64(m.tierOps.WithLabelValues("slow", "mkdir")), 1},
		{"errs fast lstat ENOENT", testutil.ToFloat64(m.tierErrs.WithLabelValues("fast", "lstat", "ENOENT")), 1},
		{"errs fast open other", testutil.ToFloat64(m.tierErrs.WithLabelValues("fast", "open", "other")), 1},
		{"errs slow mkdir EIO", testutil.ToFloat64(m.tierErrs.WithLabelValues("slow", "mkdir", "EIO")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.tierLat, "tierfs_tier_operation_duration_seconds"); n != 3 {
		t.Errorf("latency histograms = %d, want 3 (fast/lstat, fast/open, slow/mkdir)", n)
	}
	m.Mover.Moved("fast", "slow", 4096)
	m.Mover.Failed("fast", "slow")
	if got := testutil.ToFloat64(m.Mover.bytes.WithLabelValues("fast", "slow")); got != 4096 {
		t.Errorf("mover bytes = %v", got)
	}
	m.Mover.MadeRoom("fast", 8192)
	if f, b := testutil.ToFloat64(m.Mover.roomFiles.WithLabelValues("fast")), testutil.ToFloat64(m.Mover.roomBytes.WithLabelValues("fast")); f != 1 || b != 8192 {
		t.Errorf("made room on fast = %v files, %v bytes; want 1, 8192", f, b)
	}
	until := time.Date(2026, 12, 7, 20, 0, 0, 500_000_000, time.UTC)
	m.Mover.Held(until)
	if got, want := testutil.ToFloat64(m.Mover.held), float64(until.UnixNano())/1e9; got != want {
		t.Errorf("held until = %v, want %v", got, want)
	}
	m.Mover.Held(time.Time{})
	if got := testutil.ToFloat64(m.Mover.held); got != 0 {
		t.Errorf("held until after a release = %v, want 0", got)
	}
}

func TestStartUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "met")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sub", "m.sock")
	m := New(fakeStatus)
	e, err := Start("unix", sock, m.Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://x/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `tierfs_fuse_requests_total{op="CREATE"} 5`) {
		t.Errorf("scrape lacks the CREATE count:\n%s", body)
	}
	if !strings.Contains(string(body), "go_goroutines") {
		t.Error("scrape lacks the Go runtime metrics")
	}
}

func TestStartTCP(t *testing.T) {
	e, err := Start("tcp", "127.0.0.1:0", New(fakeStatus).Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	resp, err := http.Get("http://" + e.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `tierfs_tier_up{kind="nfs",tier="slow"} 0`) {
		t.Errorf("scrape lacks the down tier:\n%s", body)
	}
	if resp, err := http.Post("http://"+e.Addr().String()+"/metrics", "text/plain", nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /metrics: %s", resp.Status)
		}
	}
}

// The space sample, shortness, overflow and spilled counts come from the status;
// a tier not sampled yet has no space series.
func TestSpaceCollector(t *testing.T) {
	m := New(func() fs.Status {
		return fs.Status{
			Tiers: []fs.TierStatus{
				{Name: "fast", Kind: "local", Up: true, Space: &fs.SpaceStatus{Capacity: 1000, Free: 40, MinFree: 50, Short: true}},
				{Name: "slow", Kind: "nfs", Up: true, Space: &fs.SpaceStatus{Capacity: 9000, Free: 5000}, Spilled: 4},
				{Name: "new", Kind: "local", Up: true},
			},
			Overflows:      []fs.Overflow{{From: "fast", To: "slow", Creates: 3}},
			NoSpaceRetries: 1,
		}
	})
	want := `
# HELP tierfs_tier_space_free_bytes Bytes available on the tier by the health probe's last sample, which placement reads.
# TYPE tierfs_tier_space_free_bytes gauge
tierfs_tier_space_free_bytes{tier="fast"} 40
tierfs_tier_space_free_bytes{tier="slow"} 5000
# HELP tierfs_tier_space_capacity_bytes Size of the tier's filesystem by the health probe's last sample.
# TYPE tierfs_tier_space_capacity_bytes gauge
tierfs_tier_space_capacity_bytes{tier="fast"} 1000
tierfs_tier_space_capacity_bytes{tier="slow"} 9000
# HELP tierfs_tier_short 1 if the tier is below its min_free or out of inodes: new files its rules place there go to an overflow tier.
# TYPE tierfs_tier_short gauge
tierfs_tier_short{tier="fast"} 1
tierfs_tier_short{tier="slow"} 0
# HELP tierfs_overflow_creates_total New files created on another tier (to) than their rule's (from), which was short or answered ENOSPC.
# TYPE tierfs_overflow_creates_total counter
tierfs_overflow_creates_total{from="fast",to="slow"} 3
# HELP tierfs_create_nospace_retries_total Creates that failed with ENOSPC or EDQUOT and were retried on an overflow tier.
# TYPE tierfs_create_nospace_retries_total counter
tierfs_create_nospace_retries_total 1
# HELP tierfs_tier_spilled_files Files recorded as spilled to the tier (their rule's tier was short); the mover takes the young ones home.
# TYPE tierfs_tier_spilled_files gauge
tierfs_tier_spilled_files{tier="fast"} 0
tierfs_tier_spilled_files{tier="new"} 0
tierfs_tier_spilled_files{tier="slow"} 4
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"tierfs_tier_space_free_bytes", "tierfs_tier_space_capacity_bytes", "tierfs_tier_short",
		"tierfs_overflow_creates_total", "tierfs_create_nospace_retries_total", "tierfs_tier_spilled_files")
	if err != nil {
		t.Error(err)
	}
}

// A cluster member's lease counters become metrics; outside a cluster
// there are none.
func TestLeaseCollector(t *testing.T) {
	m := New(func() fs.Status {
		return fs.Status{Cluster: &fs.LeaseStats{Host: "mx1", Held: 3, Users: 5, Acquired: 9, Released: 6, Refused: 2, Hostchanges: 4, Lost: 1,
			Protocol: map[string]uint64{"stolen": 2}}}
	})
	want := `
# HELP tierfs_cluster_leases_held Users whose lease this host holds now.
# TYPE tierfs_cluster_leases_held gauge
tierfs_cluster_leases_held 3
# HELP tierfs_cluster_users_known Users this host keeps a lease record of: held, or with nodes the kernel still holds; released users' records go.
# TYPE tierfs_cluster_users_known gauge
tierfs_cluster_users_known 5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "tierfs_cluster_leases_held", "tierfs_cluster_users_known"); err != nil {
		t.Error(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "tierfs_cluster_lease_events_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
		}
	}
	want = `
# HELP tierfs_cluster_protocol_events_total The lease protocol's events by kind: waited (an acquisition waited for another host), stolen (taken over from a dead host), heartbeat_failures, broken_locks (stale dotlocks removed), lost (a release found the lease another host's).
# TYPE tierfs_cluster_protocol_events_total counter
tierfs_cluster_protocol_events_total{event="stolen"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "tierfs_cluster_protocol_events_total"); err != nil {
		t.Error(err)
	}
	wantEvents := map[string]float64{"acquired": 9, "released": 6, "refused": 2, "hostchange": 4, "lost": 1, "drop_error": 0}
	if fmt.Sprint(got) != fmt.Sprint(wantEvents) {
		t.Errorf("lease events %v, want %v", got, wantEvents)
	}
	none := New(func() fs.Status { return fs.Status{} })
	if n, err := testutil.GatherAndCount(none.Registry(), "tierfs_cluster_leases_held"); err != nil || n != 0 {
		t.Errorf("outside a cluster: %d lease metrics (%v)", n, err)
	}
}
