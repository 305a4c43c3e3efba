package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// opsStatus is the part of `tierfs status --json` the ops tests read.
type opsStatus struct {
	Mountpoint string            `json:"mountpoint"`
	Config     string            `json:"config"`
	PID        int               `json:"pid"`
	Tiers      []opsTierStatus   `json:"tiers"`
	Requests   map[string]uint64 `json:"requests"`
	Cache      struct {
		Hits   uint64 `json:"hits"`
		Misses uint64 `json:"misses"`
	} `json:"cache"`
	Nodes struct {
		Live      int64  `json:"live"`
		Max       int64  `json:"max"`
		Pruned    uint64 `json:"pruned"`
		Forgotten uint64 `json:"forgotten"`
		Method    string `json:"method"`
	} `json:"nodes"`
}

// opsTierStatus is one tier of opsStatus.
type opsTierStatus struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Up    bool   `json:"up"`
	Error string `json:"error"`
	Files uint64 `json:"files"`
	// Backend calls that found their directory cached, and those that
	// walked to it.
	DirHits   uint64 `json:"dir_cache_hits"`
	DirMisses uint64 `json:"dir_cache_misses"`
	// ClockSkew is the last measured skew of an nfs tier's server clock.
	ClockSkew *float64 `json:"clock_skew_seconds"`
	Spilled   int      `json:"spilled"` // files recorded as spilled there
}

// backendCalls counts the backend calls made in a directory below a
// tier root (each finds the directory's descriptor cached or walks to
// it), and of those the walks.
func (s opsStatus) backendCalls() (calls, walks uint64) {
	for _, t := range s.Tiers {
		calls, walks = calls+t.DirHits+t.DirMisses, walks+t.DirMisses
	}
	return calls, walks
}

// opsStatusJSON runs `tierfs status --json MNT` and decodes its report.
func opsStatusJSON(t testing.TB, bin, mnt string) opsStatus {
	t.Helper()
	out, err := exec.Command(bin, "status", "--json", mnt).Output()
	if err != nil {
		t.Fatalf("tierfs status --json %s: %v\n%s", mnt, err, out)
	}
	var rs []opsStatus
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 1 {
		t.Fatalf("tierfs status --json %s: %v (%d reports)\n%s", mnt, err, len(rs), out)
	}
	return rs[0]
}

// opsProcessAlive reports whether pid runs (and is not a zombie).
func opsProcessAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// opsWaitExit waits until pid has exited.
func opsWaitExit(pid int, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !opsProcessAlive(pid) {
			return true
		}
	}
	return false
}

// opsWaitLog waits until the daemon's log contains want at least n times.
func opsWaitLog(t testing.TB, d *daemon, want string, n int) string {
	t.Helper()
	for deadline := time.Now().Add(mountWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if log := d.log(); strings.Count(log, want) >= n {
			return log
		}
	}
	t.Fatalf("daemon log does not contain %q %d times within %v:\n%s", want, n, mountWait, d.log())
	return ""
}
