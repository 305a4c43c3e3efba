package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tierfs/tierfs/internal/fuseuring"
)

// Run runs the selected workloads on every selected target, Rounds
// times. Within a round all targets are mounted together and each
// workload runs on all of them back to back, so the results a ratio
// compares are measured seconds apart rather than minutes: on a busy VM
// the machine's speed drifts within minutes. Targets rotate their order
// from round to round so that drift does not favour one of them. A
// failing mount or workload is recorded in the report and ends that
// target's round; the run goes on with the others.
func Run(ctx context.Context, opts *Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the benchmark mounts filesystems and must run as root")
	}
	if opts.TierfsTransport == "io_uring" {
		restore, err := fuseuring.SetEnabled(true)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := restore(); err != nil {
				opts.logf("restore %s: %v", fuseuring.EnableParam, err)
			}
		}()
	}
	ws, err := NewWorkspace(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := ws.Close(); cerr != nil {
			opts.logf("cleanup: %v", cerr)
		}
	}()
	rep := newReport(opts)
	targets := makeTargets(ws, opts.Targets)
	var workloads []Workload
	for _, w := range AllWorkloads() {
		if slices.Contains(opts.Workloads, w.Name()) {
			workloads = append(workloads, w)
		}
	}
	for round := range opts.Rounds {
		order := make([]Target, len(targets))
		for i := range targets {
			order[i] = targets[(round+i)%len(targets)]
		}
		if err := runRound(ctx, ws, rep, round, order, workloads); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func makeTargets(ws *Workspace, names []string) []Target {
	var out []Target
	for _, name := range AllTargets() {
		if !slices.Contains(names, name) {
			continue
		}
		switch name {
		case TargetNative:
			out = append(out, newNativeTarget(ws))
		case TargetTierfs:
			out = append(out, newTierfsTarget(ws, name, layoutLocal))
		case TargetMergerfs:
			out = append(out, newMergerfsTarget(ws, ws.Opts.MergerfsOpts))
		case TargetSlowMail:
			out = append(out, newTierfsTarget(ws, name, layoutSlowMail))
		case TargetAllSlow:
			out = append(out, newTierfsTarget(ws, name, layoutAllSlow))
		case TargetSlow:
			out = append(out, newSlowTarget(ws))
		case TargetCluster:
			out = append(out, newTierfsTarget(ws, name, layoutCluster))
		}
	}
	return out
}

// runRound mounts the targets, runs each workload on all of them in
// turn and unmounts them. It returns only the context's error; failures
// of a target are recorded in the report.
func runRound(ctx context.Context, ws *Workspace, rep *Report, round int, targets []Target, workloads []Workload) error {
	fail := func(t Target, err error) {
		rep.addError(t.Name(), round, err)
		ws.Opts.logf("round %d %s: %v", round+1, t.Name(), err)
	}
	roots := make([]string, len(targets)) // "" where the mount failed
	defer func() {
		for i, t := range targets {
			if roots[i] == "" {
				continue
			}
			if err := t.Unmount(); err != nil {
				fail(t, fmt.Errorf("unmount: %w", err))
			}
		}
	}()
	for i, t := range targets {
		root, err := t.Mount(ctx)
		if err != nil {
			// A half-made mount is taken down like a whole one.
			fail(t, errors.Join(fmt.Errorf("mount: %w", err), t.Unmount()))
			continue
		}
		roots[i] = root
	}
	failed := make([]bool, len(targets))
	for _, w := range workloads {
		for i, t := range targets {
			if roots[i] == "" || failed[i] {
				continue
			}
			if err := runWorkload(ctx, ws, rep, round, t, roots[i], w); err != nil {
				fail(t, err)
				failed[i] = true
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// runWorkload runs w once on target t mounted at root and records its
// samples and request counts.
func runWorkload(ctx context.Context, ws *Workspace, rep *Report, round int, t Target, root string, w Workload) error {
	opts := ws.Opts
	dir := workDir(root, w.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", w.Name(), err)
	}
	env := &Env{Target: t.Name(), Root: root, Dir: dir, Sizes: opts.Sizes, MmapDisable: needsMmapDisable(t), ws: ws}
	before := requestCounts(ctx, opts, t)
	start := time.Now()
	samples, err := w.Run(ctx, env)
	if err != nil {
		return fmt.Errorf("%s: %w", w.Name(), err)
	}
	if before != nil {
		if after := requestCounts(ctx, opts, t); after != nil {
			rep.addCounts(t.Name(), w.Name(), round, diffCounts(before, after))
		}
	}
	for _, s := range samples {
		rep.add(t.Name(), round, s)
	}
	opts.logf("round %d %-16s %-9s %6.1fs %s", round+1, t.Name(), w.Name(), time.Since(start).Seconds(), brief(samples))
	return nil
}

// requestCounts snapshots t's counters when counting is on and t has
// them; nil otherwise.
func requestCounts(ctx context.Context, opts *Options, t Target) map[string]uint64 {
	rc, ok := t.(RequestCounter)
	if !opts.Counts || !ok {
		return nil
	}
	m, err := rc.RequestCounts(ctx)
	if errors.Is(err, errNoCounters) {
		return nil
	}
	if err != nil {
		opts.logf("%s: request counts: %v", t.Name(), err)
		return nil
	}
	return m
}

func diffCounts(before, after map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range after {
		if v > before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

func brief(samples []Sample) string {
	s := ""
	for _, x := range samples {
		s += fmt.Sprintf(" %s=%.4g", x.Metric, x.Value)
	}
	return s
}
