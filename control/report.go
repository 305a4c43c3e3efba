package control

import (
	"encoding/json"
	"time"

	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/policy"
)

// StatusReport is the answer to GET /status: the filesystem's own
// snapshot and what identifies the daemon.
type StatusReport struct {
	Mountpoint string    `json:"mountpoint"`
	Config     string    `json:"config"` // the config file, or "embedded default"
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	Uptime     float64   `json:"uptime_seconds"`
	fs.Status
	// Mover is the mover's own report, present once a mover runs; it is
	// raw JSON so that this package does not depend on the mover.
	Mover json.RawMessage `json:"mover,omitempty"`
	// Rebalance lists this host's old tier lists whose rebalance has
	// not finished.
	Rebalance []policy.PendingRebalance `json:"rebalance,omitempty"`
}

// ReloadResult is the answer to a successful POST /reload.
type ReloadResult struct {
	Config string `json:"config"`
	Rules  int    `json:"rules"`
}
