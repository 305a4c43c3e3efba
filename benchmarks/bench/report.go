package bench

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a run: every measured value, their medians
// and what is needed to reproduce and judge them.
type Report struct {
	Date      time.Time `json:"date"`
	Machine   Machine   `json:"machine"`
	Rounds    int       `json:"rounds"`
	Sizes     Sizes     `json:"sizes"`
	SlowDelay string    `json:"slow_delay"`
	// SlowXattrs is the xattr namespaces slowfs carries: "user" (as an
	// NFS client), "all", or "" for runs before it could be chosen (all).
	SlowXattrs string `json:"slow_xattrs,omitempty"`
	Mergerfs   string `json:"mergerfs_options"`
	// Transport is how the tierfs targets were served ("" before it
	// could be chosen: go-fuse's /dev/fuse server).
	Transport string       `json:"tierfs_transport,omitempty"`
	Targets   []string     `json:"targets"`
	Metrics   []MetricInfo `json:"metrics"`
	Results   []Result     `json:"results"`
	Ratios    []Ratio      `json:"ratios"`
	Goals     []Goal       `json:"goals"`
	Counts    []Counts     `json:"request_counts,omitempty"`
	Errors    []RunError   `json:"errors,omitempty"`
}

// MetricInfo names a metric, its unit and the workload reporting it.
type MetricInfo struct {
	Name     string `json:"name"`
	Unit     string `json:"unit"`
	Workload string `json:"workload"`
}

// Result is one metric on one target: a value per round and the median.
type Result struct {
	Target string    `json:"target"`
	Metric string    `json:"metric"`
	Values []float64 `json:"values"`
	// Rounds numbers the round (from 1) of each value: a round that
	// failed on this target has none.
	Rounds []int   `json:"rounds,omitempty"`
	Median float64 `json:"median"`
}

// Ratio compares two targets' medians of one metric.
type Ratio struct {
	Name   string  `json:"name"` // e.g. "tierfs/native"
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Counts are the requests a target's daemon served during one workload.
type Counts struct {
	Target   string            `json:"target"`
	Workload string            `json:"workload"`
	Round    int               `json:"round"`
	Ops      map[string]uint64 `json:"ops"`
}

// RunError is a failure that cut a target's round short.
type RunError struct {
	Target string `json:"target"`
	Round  int    `json:"round"`
	Error  string `json:"error"`
}

// ratioPair names a ratio and its numerator and denominator targets.
type ratioPair struct{ name, num, den string }

// findPair returns the pair of the named ratio.
func findPair(name string) (ratioPair, bool) {
	i := slices.IndexFunc(ratioPairs, func(p ratioPair) bool { return p.name == name })
	if i < 0 {
		return ratioPair{}, false
	}
	return ratioPairs[i], true
}

// ratioPairs are the comparisons the table shows: numerator and
// denominator target.
var ratioPairs = []ratioPair{
	{"tierfs/native", TargetTierfs, TargetNative},
	{"tierfs/mergerfs", TargetTierfs, TargetMergerfs},
	{"slowmail/allslow", TargetSlowMail, TargetAllSlow},
	{"slowmail/slow", TargetSlowMail, TargetSlow},
	{"cluster/tierfs", TargetCluster, TargetTierfs},
}

func newReport(opts *Options) *Report {
	r := &Report{
		Date: time.Now().UTC(), Machine: describeMachine(opts),
		Rounds: opts.Rounds, Sizes: opts.Sizes, SlowDelay: opts.SlowDelay.String(), SlowXattrs: "user",
		Mergerfs: opts.MergerfsOpts, Transport: cmp.Or(opts.TierfsTransport, "dev"),
	}
	if opts.SlowAllXattrs {
		r.SlowXattrs = "all"
	}
	for _, t := range AllTargets() {
		if slices.Contains(opts.Targets, t) {
			r.Targets = append(r.Targets, t)
		}
	}
	for _, w := range AllWorkloads() {
		if slices.Contains(opts.Workloads, w.Name()) {
			for _, m := range w.Metrics() {
				r.Metrics = append(r.Metrics, MetricInfo{Name: m, Workload: w.Name()})
			}
		}
	}
	return r
}

func (r *Report) add(target string, round int, s Sample) {
	for i := range r.Metrics {
		if r.Metrics[i].Name == s.Metric {
			r.Metrics[i].Unit = s.Unit
		}
	}
	for i := range r.Results {
		if res := &r.Results[i]; res.Target == target && res.Metric == s.Metric {
			res.Values = append(res.Values, s.Value)
			res.Rounds = append(res.Rounds, round+1)
			res.Median = Median(res.Values)
			return
		}
	}
	r.Results = append(r.Results, Result{Target: target, Metric: s.Metric,
		Values: []float64{s.Value}, Rounds: []int{round + 1}, Median: s.Value})
}

func (r *Report) addError(target string, round int, err error) {
	r.Errors = append(r.Errors, RunError{Target: target, Round: round + 1, Error: err.Error()})
}

func (r *Report) addCounts(target, workload string, round int, ops map[string]uint64) {
	r.Counts = append(r.Counts, Counts{Target: target, Workload: workload, Round: round + 1, Ops: ops})
}

// Median returns the median of metric on target, or false if it was not
// measured.
func (r *Report) Median(target, metric string) (float64, bool) {
	if res := r.result(target, metric); res != nil {
		return res.Median, true
	}
	return 0, false
}

func (r *Report) result(target, metric string) *Result {
	for i := range r.Results {
		if res := &r.Results[i]; res.Target == target && res.Metric == metric {
			return res
		}
	}
	return nil
}

// roundRatios returns num/den of metric for each round in which both
// targets measured it, in round order.
func (r *Report) roundRatios(metric, num, den string) []float64 {
	a, b := r.result(num, metric), r.result(den, metric)
	if a == nil || b == nil {
		return nil
	}
	var out []float64
	for i, round := range a.Rounds {
		if j := slices.Index(b.Rounds, round); j >= 0 && b.Values[j] != 0 {
			out = append(out, a.Values[i]/b.Values[j])
		}
	}
	return out
}

// Finish computes the ratios and checks the goals. Call it once all
// results are in.
func (r *Report) Finish() {
	r.Ratios = nil
	for _, m := range r.Metrics {
		for _, p := range ratioPairs {
			if v, ok := r.ratio(m.Name, p.num, p.den); ok {
				r.Ratios = append(r.Ratios, Ratio{Name: p.name, Metric: m.Name, Value: v})
			}
		}
	}
	r.Goals = checkGoals(r)
}

func (r *Report) ratio(metric, num, den string) (float64, bool) {
	a, ok1 := r.Median(num, metric)
	b, ok2 := r.Median(den, metric)
	if !ok1 || !ok2 || b == 0 {
		return 0, false
	}
	return a / b, true
}

// RatioValue returns the named ratio for metric, if both sides were
// measured.
func (r *Report) RatioValue(name, metric string) (float64, bool) {
	for _, x := range r.Ratios {
		if x.Name == name && x.Metric == metric {
			return x.Value, true
		}
	}
	return 0, false
}

// Goal is one of the performance targets tierfs is meant to reach. It is
// judged on the ratio of the two targets' medians; the ratio within each
// round (both measured minutes apart at most) shows how firmly.
type Goal struct {
	Description string    `json:"description"`
	Ratio       string    `json:"ratio"`
	Metric      string    `json:"metric"`
	Want        float64   `json:"want"` // the ratio must be at least this
	Got         float64   `json:"got"`
	Measured    bool      `json:"measured"`
	Met         bool      `json:"met"`
	PerRound    []float64 `json:"per_round,omitempty"`
	MetRounds   int       `json:"met_rounds"` // rounds whose own ratio reaches Want
}

// goalSpecs are the targets issue 4 sets: all are "ratio >= want". A
// stat "within 1.2× native" time is a rate of at least 1/1.2 of native.
var goalSpecs = []struct {
	desc, ratio, metric string
	want                float64
}{
	{"seq write >= 90% native", "tierfs/native", "seq-write", 0.9},
	{"seq read >= 90% native", "tierfs/native", "seq-read", 0.9},
	{"PostMark >= 2x mergerfs", "tierfs/mergerfs", "postmark", 2},
	// Against native through stat-warm-paired: each is a ratio to the
	// same tmpfs reference taken in one window (see microWorkload).
	{"stat of a cached file within 1.2x native", "tierfs/native", "stat-warm-paired", 1 / 1.2},
	{"Dovecot >= 1.3x mergerfs", "tierfs/mergerfs", "dovecot-total", 1.3},
	{"Dovecot >= 85% native", "tierfs/native", "dovecot-total", 0.85},
	{"slow mail tier Dovecot >= 2x all-slow", "slowmail/allslow", "dovecot-total", 2},
}

// checkGoals evaluates the goals whose two targets were part of the run.
func checkGoals(r *Report) []Goal {
	var out []Goal
	for _, g := range goalSpecs {
		p, ok := findPair(g.ratio)
		if !ok || !r.hasTarget(p.num) || !r.hasTarget(p.den) {
			continue
		}
		v, ok := r.RatioValue(g.ratio, g.metric)
		goal := Goal{Description: g.desc, Ratio: g.ratio, Metric: g.metric,
			Want: g.want, Got: v, Measured: ok, Met: ok && v >= g.want,
			PerRound: r.roundRatios(g.metric, p.num, p.den)}
		for _, x := range goal.PerRound {
			if x >= g.want {
				goal.MetRounds++
			}
		}
		out = append(out, goal)
	}
	return out
}

func (g Goal) status() string {
	var s string
	switch {
	case !g.Measured:
		return "not measured"
	case g.Met:
		s = fmt.Sprintf("met (%.2f >= %.2f)", g.Got, g.Want)
	default:
		s = fmt.Sprintf("NOT met (%.2f < %.2f)", g.Got, g.Want)
	}
	if len(g.PerRound) < 2 {
		return s
	}
	rounds := make([]string, len(g.PerRound))
	for i, x := range g.PerRound {
		rounds[i] = fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%s; by round %s: reached in %d of %d", s, strings.Join(rounds, ", "), g.MetRounds, len(g.PerRound))
}
