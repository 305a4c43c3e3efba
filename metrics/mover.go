package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Mover counts the work of the mover, by source and destination tier.
// The mover calls Moved and Failed; the series exist (at zero) from the
// first move on.
type Mover struct {
	files    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	failures *prometheus.CounterVec
	// roomFiles and roomBytes count the early demotions (also in files
	// and bytes) by the tier they made room on.
	roomFiles *prometheus.CounterVec
	roomBytes *prometheus.CounterVec
	held      prometheus.Gauge
}

func newMover() *Mover {
	labels := []string{"from", "to"}
	return &Mover{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_mover_files_total", Help: "Files moved between tiers.",
		}, labels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_mover_bytes_total", Help: "Bytes copied by completed moves between tiers.",
		}, labels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_mover_failures_total", Help: "Moves that failed or were abandoned (e.g. the file changed during the copy).",
		}, labels),
		roomFiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_mover_made_room_files_total", Help: "Files demoted early because their tier was below its target_free (also counted in tierfs_mover_files_total).",
		}, []string{"tier"}),
		roomBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_mover_made_room_bytes_total", Help: "Bytes demoted early because their tier was below its target_free.",
		}, []string{"tier"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tierfs_mover_held_until_seconds", Help: "End of the mover's hold (tierfs hold), in Unix time; 0 once released. The mover is held while this is after time().",
		}),
	}
}

func (m *Mover) register(reg prometheus.Registerer) {
	reg.MustRegister(m.files, m.bytes, m.failures, m.roomFiles, m.roomBytes, m.held)
}

// Moved records one file of size bytes moved from one tier to another.
func (m *Mover) Moved(from, to string, bytes int64) {
	m.files.WithLabelValues(from, to).Inc()
	m.bytes.WithLabelValues(from, to).Add(float64(bytes))
}

// Failed records a move that did not complete.
func (m *Mover) Failed(from, to string) {
	m.failures.WithLabelValues(from, to).Inc()
}

// MadeRoom records one file of size bytes demoted early to make room on
// tier.
func (m *Mover) MadeRoom(tier string, bytes int64) {
	m.roomFiles.WithLabelValues(tier).Inc()
	m.roomBytes.WithLabelValues(tier).Add(float64(bytes))
}

// Held records the end of a hold of the mover; the zero time, a release.
func (m *Mover) Held(until time.Time) {
	if until.IsZero() {
		m.held.Set(0)
		return
	}
	m.held.Set(float64(until.UnixNano()) / 1e9)
}
