// Package metrics exposes a tierfs mount to Prometheus: backend
// operations, errors and latency per tier (pushed by each tier's
// observer), and FUSE requests, cache hits, live nodes and tier health
// and space (pulled from the filesystem's status at scrape time, so the
// hot path pays nothing for them).
package metrics

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/fs"
)

// Metrics is the registry of one mount.
type Metrics struct {
	reg      *prometheus.Registry
	tierOps  *prometheus.CounterVec
	tierErrs *prometheus.CounterVec
	tierLat  *prometheus.HistogramVec
	// Mover counts the mover's work; the mover reports into it.
	Mover *Mover
}

// New registers the metrics of a mount whose state status reports.
func New(status func() fs.Status) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		tierOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_tier_operations_total",
			Help: "Backend calls made on a tier, by operation.",
		}, []string{"tier", "op"}),
		tierErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierfs_tier_errors_total",
			Help: "Backend calls on a tier that returned an error, by operation and errno (ENOENT on lookup is normal).",
		}, []string{"tier", "op", "errno"}),
		tierLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tierfs_tier_operation_duration_seconds",
			Help: "Latency of backend calls on a tier, by operation.",
			// 10µs (tmpfs) to 10s (a struggling NFS server).
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}, []string{"tier", "op"}),
		Mover: newMover(),
	}
	m.reg.MustRegister(m.tierOps, m.tierErrs, m.tierLat, statusCollector{status})
	m.Mover.register(m.reg)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// TierObserver returns the function to set as (*tiers.Tier).Observe for
// the tier called tier. It is called after every backend call and keeps
// the per-operation series at hand, so a call costs a map read and three
// atomic adds.
func (m *Metrics) TierObserver(tier string) func(op string, d time.Duration, err error) {
	ops := m.tierOps.MustCurryWith(prometheus.Labels{"tier": tier})
	errs := m.tierErrs.MustCurryWith(prometheus.Labels{"tier": tier})
	lat := m.tierLat.MustCurryWith(prometheus.Labels{"tier": tier})
	var series sync.Map // op → *opSeries
	return func(op string, d time.Duration, err error) {
		v, ok := series.Load(op)
		if !ok {
			v, _ = series.LoadOrStore(op, &opSeries{ops: ops.WithLabelValues(op), lat: lat.WithLabelValues(op)})
		}
		s := v.(*opSeries)
		s.ops.Inc()
		s.lat.Observe(d.Seconds())
		if err != nil {
			errs.WithLabelValues(op, errnoName(err)).Inc()
		}
	}
}

type opSeries struct {
	ops prometheus.Counter
	lat prometheus.Observer
}

// errnoName labels an error by its errno ("EIO"), or "other".
func errnoName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return "other"
}
