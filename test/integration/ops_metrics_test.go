package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/internal/fuseserver"
	"github.com/tierfs/tierfs/internal/fuseuring"
)

// opsScrape fetches /metrics over a unix socket and returns every sample
// by its series as written ("name{label=\"v\",...}").
func opsScrape(t *testing.T, sock string) map[string]float64 {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := hc.Get("http://tierfs/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad sample %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

// mountWithMetrics mounts the default layout with the metrics endpoint on
// a unix socket, and returns the fixture and the socket's path.
func mountWithMetrics(t *testing.T) (*fixture, string) {
	t.Helper()
	return mountConfigWithMetrics(t, defaultConfig())
}

// mountConfigWithMetrics is mountWithMetrics for layout cfg; the
// endpoint's table is appended to cfg.Extra.
func mountConfigWithMetrics(t *testing.T, cfg fsConfig) (*fixture, string) {
	t.Helper()
	f := prepareFixture(t, &cfg)
	sockDir, err := os.MkdirTemp("", "met")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "metrics.sock")
	cfg.Extra += fmt.Sprintf("\n[metrics]\nlisten = %q\n", "unix:"+sock)
	f.writeConfig(t, cfg.toml())
	if out, err := f.run("init", "--config", f.cfgPath); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	f.mount(t)
	return f, sock
}

// TestOpsMetrics scrapes the metrics endpoint around known operations and
// checks the counters moved by exactly what was done.
func TestOpsMetrics(t *testing.T) {
	f, sock := mountWithMetrics(t)
	f.mkdirAll(t, "index/m")

	before := opsScrape(t, sock)
	const n = 7
	for i := range n {
		f.writeFile(t, fmt.Sprintf("index/m/f%d", i), "x")
	}
	if _, err := os.Stat(f.path("index/m/missing")); !os.IsNotExist(err) {
		t.Fatalf("stat missing: %v, want ENOENT", err)
	}
	after := opsScrape(t, sock)

	delta := func(series string) float64 { return after[series] - before[series] }
	if d := delta(`tierfs_fuse_requests_total{op="CREATE"}`); d != n {
		t.Errorf("CREATE requests rose by %v, want exactly %d", d, n)
	}
	if d := delta(`tierfs_tier_operations_total{op="open",tier="fast"}`); d < n {
		t.Errorf("fast tier open operations rose by %v, want at least %d", d, n)
	}
	if d := delta(`tierfs_tier_operation_duration_seconds_count{op="open",tier="fast"}`); d < n {
		t.Errorf("fast tier open latency count rose by %v, want at least %d", d, n)
	}
	for _, tier := range []string{"tmp", "slow"} {
		if d := delta(fmt.Sprintf(`tierfs_tier_operations_total{op="open",tier=%q}`, tier)); d != 0 {
			t.Errorf("%s tier open operations rose by %v, want 0 (files were made on fast)", tier, d)
		}
	}
	if d := delta(`tierfs_tier_errors_total{errno="ENOENT",op="lstat",tier="fast"}`); d < 1 {
		t.Errorf("fast tier ENOENT lstat errors rose by %v, want at least 1 (the missing name)", d)
	}
	for _, tier := range []struct{ name, kind string }{{"tmp", "tmpfs"}, {"fast", "local"}, {"slow", "local"}} {
		if v, ok := after[fmt.Sprintf(`tierfs_tier_up{kind=%q,tier=%q}`, tier.kind, tier.name)]; !ok || v != 1 {
			t.Errorf("tierfs_tier_up for %s = %v (present %v), want 1", tier.name, v, ok)
		}
	}
	if after[`tierfs_tier_files{tier="fast"}`] <= 0 || after[`tierfs_tier_size_bytes{tier="tmp"}`] != 64<<20 {
		t.Errorf("tier space: fast files %v, tmp size %v (a 64 MiB tmpfs)",
			after[`tierfs_tier_files{tier="fast"}`], after[`tierfs_tier_size_bytes{tier="tmp"}`])
	}
	// The daemon gives the Go scheduler a spare P per thread that waits
	// for requests: go-fuse's /dev/fuse readers, or the io_uring
	// workers and two readers (cmd/tierfs/sched.go); an operator's
	// GOMAXPROCS wins.
	wantProcs := runtime.NumCPU() + min(max(runtime.NumCPU(), 2), 16) + 1
	if strings.Contains(f.d.log(), "transport=io_uring") {
		cpus, err := fuseuring.PossibleCPUs()
		if err != nil {
			t.Fatal(err)
		}
		wantProcs = runtime.NumCPU() + len(cpus)*fuseserver.DefaultWorkers + 2
	}
	if v, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil {
		wantProcs = v
	}
	if got := after["go_sched_gomaxprocs_threads"]; got != float64(wantProcs) {
		t.Errorf("daemon GOMAXPROCS %v, want %d", got, wantProcs)
	}
	if _, ok := after["tierfs_cache_hits_total"]; !ok {
		t.Error("no tierfs_cache_hits_total series")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("metrics socket: %v, %v; want mode 0660", fi, err)
	}
}
