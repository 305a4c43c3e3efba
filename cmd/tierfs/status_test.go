package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/control"
	"github.com/tierfs/tierfs/fs"
)

func TestPrintStatus(t *testing.T) {
	skew := -2.5
	r := &control.StatusReport{
		Mountpoint: "/srv/mail", Config: "/etc/tierfs/tierfs.toml", PID: 77, Uptime: 3725,
		Status: fs.Status{
			Tiers: []fs.TierStatus{
				{Name: "tmp", Path: "/dev/shm/tierfs", Kind: "tmpfs", Up: true, Bytes: 64 << 20, BytesFree: 48 << 20, Files: 12, FilesFree: 1000, DirHits: 8, DirMisses: 1,
					Space: &fs.SpaceStatus{Capacity: 64 << 20, Free: 48 << 20, FreeFiles: 1000}},
				{Name: "fast", Path: "/srv/fast", Kind: "local", Up: true, Bytes: 64 << 20, BytesFree: 1 << 20, Files: 12, FilesFree: 1000,
					Space: &fs.SpaceStatus{Capacity: 64 << 20, Free: 1 << 20, FreeFiles: 1000, MinFree: 8 << 20, TargetFree: 16 << 20, Short: true, BelowTarget: true}},
				{Name: "slow", Path: "/mnt/nfs", Kind: "nfs", Up: false, Error: "health probe timed out", DirHits: 1, DirMisses: 0, ClockSkew: &skew, Spilled: 5,
					Space: &fs.SpaceStatus{Capacity: 1 << 30, Free: 100 << 20, MinFree: 10 << 20, TargetFree: 200 << 20, BelowTarget: true}},
			},
			Overflows:      []fs.Overflow{{From: "fast", To: "slow", Creates: 7}},
			NoSpaceRetries: 2,
			Requests:       map[string]uint64{"LOOKUP": 10, "CREATE": 3, "GETATTR": 10},
			Cache:          fs.CacheStats{Hits: 3, Misses: 1, Absent: 410, IndexBytes: 12700, IndexBudget: 4 << 20},
			Nodes:          fs.NodeStats{Live: 1834, Max: 2000, Pruned: 18234, Forgotten: 18300, Method: fs.PruneMethodPrune},
			Cluster: &fs.LeaseStats{Host: "mx1", Held: 12, Users: 30, Acquired: 40, Released: 28, Refused: 3, Hostchanges: 5, Lost: 1,
				Protocol: map[string]uint64{"waited": 2, "stolen": 1}},
		},
		Mover: json.RawMessage(`{"runs":2,"files":4,"bytes":4194304,"failed":0,"interval_ns":3600000000000,"files_per_second":200}`),
	}
	var buf bytes.Buffer
	printStatus(&buf, r)
	out := buf.String()
	for _, want := range []string{
		"/srv/mail: tierfs pid 77, up 1h2m5s, config /etc/tierfs/tierfs.toml",
		"tmp   tmpfs  up      16.0 MiB  48.0 MiB  64.0 MiB  12     1000",
		"slow  nfs    DOWN",
		"space: tmp 48.0 MiB free of 64.0 MiB; fast 1.0 MiB free of 64.0 MiB, short (min_free 8.0 MiB, 1000 free files): new files overflow; slow 100.0 MiB free of 1.0 GiB, below target (target_free 200.0 MiB)",
		"overflow: fast→slow 7 files, 2 creates retried after ENOSPC",
		"spilled: 5 files on slow (go home while young, once their tier has room)",
		"(health probe timed out)",
		"cache: 3 hits, 1 misses (75.0% hit rate)",
		"name index: 410 lookups answered, 12.4 KiB of 4.0 MiB",
		"directories: 9 cached, 1 walked (90.0% cached)",
		"nodes: 1834 live (cap 2000), 18234 pruned by FUSE_NOTIFY_PRUNE, 18300 forgotten",
		"requests: 23 total (GETATTR 10, LOOKUP 10, CREATE 3)",
		"mover: every 1h, at most 200 files/s; 2 passes moved 4 files, 4.0 MiB; 0 failed",
		"clock: tier slow: server clock -2.500s from this host's WARNING",
		"cluster: host mx1, 12 users held, 30 known; leases 40 acquired, 28 released, 3 refused (EIO), 5 hostchanges, 1 lost, 0 drop errors; protocol: stolen 1, waited 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

// An nfs tier's clock skew shows with its sign, and beyond a second
// with a warning; a tier never measured shows none.
func TestClockSummary(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 30, 0, 0, time.Local)
	skew := func(s float64) *float64 { return &s }
	for _, tt := range []struct {
		skew      *float64
		want, not string
	}{
		{nil, "", ""},
		{skew(90.25), "tier slow: server clock +90.250s from this host's (measured 07:30:00) WARNING: over 1s", ""},
		{skew(-1.5), "server clock -1.500s from this host's (measured 07:30:00) WARNING", ""},
		{skew(0.004), "server clock +0.004s from this host's (measured 07:30:00)", "WARNING"},
		{skew(-1), "server clock -1.000s", "WARNING"},
	} {
		got := clockSummary(fs.TierStatus{Name: "slow", Kind: "nfs", ClockSkew: tt.skew, ClockSkewAt: &at})
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) || (tt.not != "" && strings.Contains(got, tt.not)) {
			t.Errorf("clockSummary(%v) = %q, want it to contain %q and not %q", tt.skew, got, tt.want, tt.not)
		}
	}
}

func TestNodeSummaryWithoutCap(t *testing.T) {
	if got, want := nodeSummary(fs.NodeStats{Live: 12}), "12 live (no cap), 0 pruned, 0 forgotten"; got != want {
		t.Errorf("nodeSummary = %q, want %q", got, want)
	}
}

// The nodes line says how the kernel is asked to drop nodes, once it
// was; the JSON report names the method.
func TestNodeSummaryMethod(t *testing.T) {
	n := fs.NodeStats{Live: 990, Max: 1000, Pruned: 7, Forgotten: 9, Method: fs.PruneMethodEntry}
	if got, want := nodeSummary(n), "990 live (cap 1000), 7 pruned by entry invalidation, 9 forgotten"; got != want {
		t.Errorf("nodeSummary = %q, want %q", got, want)
	}
	for method, want := range map[string]string{fs.PruneMethodPrune: `"method":"prune"`, fs.PruneMethodEntry: `"method":"inval_entry"`, "": `"forgotten":9}`} {
		n.Method = method
		if data, err := json.Marshal(n); err != nil || !strings.Contains(string(data), want) {
			t.Errorf("method %q: JSON %s (%v), want it to contain %s", method, data, err, want)
		}
	}
}

func TestIECBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := iecBytes(n); got != want {
			t.Errorf("iecBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseTierfsMounts(t *testing.T) {
	in := "/dev/sda1 / ext4 rw 0 0\n" +
		"/etc/tierfs.toml /srv/mail fuse.tierfs rw,nosuid 0 0\n" +
		"x /srv/other fuse.mergerfs rw 0 0\n" +
		"/etc/t2.toml /srv/my\\040mail fuse.tierfs rw 0 0\n"
	got := parseTierfsMounts(in)
	if want := []string{"/srv/mail", "/srv/my mail"}; !slices.Equal(got, want) {
		t.Errorf("parseTierfsMounts = %q, want %q", got, want)
	}
}

// TestBusyHolders finds a child process whose working directory and an
// open file lie under a directory.
func TestBusyHolders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/f", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	cmd.Dir = dir
	f, err := os.Open(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var hs []holder
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if hs = busyHolders(dir); len(hs) > 0 && hs[0].comm == "sleep" {
			break
		}
	}
	if len(hs) != 1 || hs[0].pid != cmd.Process.Pid || hs[0].comm != "sleep" ||
		!slices.Contains(hs[0].paths, dir) || !slices.Contains(hs[0].paths, dir+"/f") {
		t.Fatalf("busyHolders = %v, want only pid %d (sleep) with %s and %s/f", hs, cmd.Process.Pid, dir, dir)
	}
	if hs := busyHolders(dir + "x"); len(hs) != 0 {
		t.Errorf("busyHolders(other dir) = %v", hs)
	}
}

func TestUnder(t *testing.T) {
	for _, tt := range []struct {
		p, mp string
		want  bool
	}{
		{"/srv/mail", "/srv/mail", true}, {"/srv/mail/a", "/srv/mail", true},
		{"/srv/mailx", "/srv/mail", false}, {"/srv", "/srv/mail", false}, {"/x", "/", true},
	} {
		if got := under(tt.p, tt.mp); got != tt.want {
			t.Errorf("under(%q, %q) = %v", tt.p, tt.mp, got)
		}
	}
}

// The mover's lines say its pace, its totals, the running pass and the
// last one, with the room made and the notes; a report of another shape
// is shown as it came.
func TestMoverSummary(t *testing.T) {
	started := time.Date(2026, 12, 6, 8, 39, 1, 0, time.Local)
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"idle, on demand", `{"runs":0,"files":0,"bytes":0,"failed":0,"interval_ns":0}`,
			[]string{"mover: on demand only; 0 passes moved 0 files, 0 B; 0 failed"}},
		{"made room", `{"runs":1,"files":5,"bytes":5000000,"failed":1,"interval_ns":3600000000000,"bytes_per_second":52428800,
			"skipped":{"open":2,"no-space":0},"made_room":{"fast":{"files":5,"bytes":5000000}},
			"last":{"started":"` + started.Format(time.RFC3339) + `","scanned":13,"files":5,"bytes":5000000,"failed":1,
				"made_room":{"fast":{"files":5,"bytes":5000000}},"skipped":{"open":2},"stopped":"max-bytes reached","notes":["tier fast is still 10 bytes below target_free after this pass"]}}`,
			[]string{
				"mover: every 1h, at most 50.0 MiB/s; 1 pass moved 5 files, 4.8 MiB; 1 failed; made room on fast: 5 files, 4.8 MiB; skipped open 2",
				"mover last pass: 2026-12-06 08:39:01, 13 files scanned, 5 moved, 4.8 MiB; 1 failed; made room on fast: 5 files, 4.8 MiB; skipped open 2; stopped early: max-bytes reached; note: tier fast is still 10 bytes below target_free after this pass",
			}},
		{"running", `{"runs":3,"files":0,"bytes":0,"failed":0,"interval_ns":60000000000,"running":{"phase":"moving","files":4,"bytes":4096,"files_done":1,"bytes_done":1024}}`,
			[]string{
				"mover: every 1m; 3 passes moved 0 files, 0 B; 0 failed",
				"mover pass running: [#######.......................] 1/4 files, 1.0 KiB/4.0 KiB",
			}},
		{"held", `{"runs":2,"files":1,"bytes":10,"failed":0,"interval_ns":3600000000000,"held_until":"` + started.Add(6*time.Hour).Format(time.RFC3339) + `"}`,
			[]string{
				"mover: every 1h; 2 passes moved 1 files, 10 B; 0 failed",
				"mover held until 2026-12-06 14:39:01 (tierfs hold): no pass runs",
			}},
		{"unknown shape", `{"runs":"many"}`, []string{`mover: {"runs":"many"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := moverSummary(json.RawMessage(tt.raw))
			if !slices.Equal(got, tt.want) {
				t.Errorf("moverSummary =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
