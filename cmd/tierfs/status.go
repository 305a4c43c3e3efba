package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/control"
	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/mover"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// runStatus prints the state of running mounts, asked over their control
// sockets: every tierfs mount in /proc/mounts when none is named.
func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("status")
	asJSON := fset.Bool("json", false, "print the daemons' reports as JSON")
	mps, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(mps) == 0 {
		if mps, err = tierfsMounts(); err != nil {
			return err
		}
		if len(mps) == 0 {
			fmt.Fprintln(stdout, "no tierfs mounts")
			return nil
		}
	}
	results := queryStatus(ctx, mps)
	var reports []*control.StatusReport
	var errs []error
	for _, res := range results {
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		if !*asJSON {
			if len(reports) > 0 {
				fmt.Fprintln(stdout)
			}
			printStatus(stdout, res.report)
		}
		reports = append(reports, res.report)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// statusTimeout bounds the wait for one daemon: a hung daemon (or a dead
// mount whose process has not exited) must not hide the others.
const statusTimeout = 5 * time.Second

type statusResult struct {
	report *control.StatusReport
	err    error
}

// queryStatus asks every mount point's daemon at once; the results are in
// the order of mps.
func queryStatus(ctx context.Context, mps []string) []statusResult {
	results := make([]statusResult, len(mps))
	var wg sync.WaitGroup
	for i, mp := range mps {
		wg.Go(func() {
			abs, err := filepath.Abs(mp)
			if err != nil {
				results[i].err = err
				return
			}
			ctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			r, err := control.NewClient(control.SocketPath(control.RunDir(), abs)).Status(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("the daemon did not answer within %v", statusTimeout)
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", abs, err)
			}
			results[i] = statusResult{r, err}
		})
	}
	wg.Wait()
	return results
}

// printStatus writes one mount's report for a person.
func printStatus(w io.Writer, r *control.StatusReport) {
	up := time.Duration(r.Uptime * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(w, "%s: tierfs pid %d, up %s, config %s\n", r.Mountpoint, r.PID, up, r.Config)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIER\tKIND\tHEALTH\tUSED\tFREE\tSIZE\tFILES\tFREE FILES\tPATH")
	for _, t := range r.Tiers {
		if !t.Up {
			fmt.Fprintf(tw, "  %s\t%s\tDOWN\t-\t-\t-\t-\t-\t%s\t(%s)\n", t.Name, t.Kind, t.Path, t.Error)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\tup\t%s\t%s\t%s\t%d\t%d\t%s\n", t.Name, t.Kind,
			iecBytes(t.Bytes-t.BytesFree), iecBytes(t.BytesFree), iecBytes(t.Bytes), t.Files, t.FilesFree, t.Path)
	}
	tw.Flush()
	c := r.Cache
	rate := "no lookups yet"
	if n := c.Hits + c.Misses; n > 0 {
		rate = fmt.Sprintf("%.1f%% hit rate", 100*float64(c.Hits)/float64(n))
	}
	fmt.Fprintf(w, "  cache: %d hits, %d misses (%s)\n", c.Hits, c.Misses, rate)
	if c.IndexBudget > 0 {
		fmt.Fprintf(w, "  name index: %d lookups answered, %s of %s\n", c.Absent, iecBytes(uint64(c.IndexBytes)), iecBytes(uint64(c.IndexBudget)))
	}
	fmt.Fprintf(w, "  space: %s\n", spaceSummary(r.Tiers))
	if len(r.Overflows) > 0 || r.NoSpaceRetries > 0 {
		fmt.Fprintf(w, "  overflow: %s\n", overflowSummary(r.Overflows, r.NoSpaceRetries))
	}
	if line := spilledSummary(r.Tiers); line != "" {
		fmt.Fprintf(w, "  spilled: %s\n", line)
	}
	for _, t := range r.Tiers {
		if line := clockSummary(t); line != "" {
			fmt.Fprintf(w, "  clock: %s\n", line)
		}
	}
	if c := r.Cluster; c != nil {
		fmt.Fprintf(w, "  cluster: %s\n", clusterSummary(c))
	}
	for _, p := range r.Rebalance {
		fmt.Fprintf(w, "  rebalance pending: %s\n", pendingLine(p))
	}
	fmt.Fprintf(w, "  directories: %s\n", dirSummary(r.Tiers))
	fmt.Fprintf(w, "  nodes: %s\n", nodeSummary(r.Nodes))
	fmt.Fprintf(w, "  requests: %s\n", requestSummary(r.Requests))
	if len(r.Mover) > 0 {
		for _, line := range moverSummary(r.Mover) {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// spaceSummary tells each tier's free space as placement last saw it
// (the health probe's sample) and whether it is short or below target.
func spaceSummary(ts []fs.TierStatus) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		sp := t.Space
		if sp == nil {
			parts = append(parts, t.Name+" not sampled yet")
			continue
		}
		s := fmt.Sprintf("%s %s free of %s", t.Name, iecBytes(sp.Free), iecBytes(sp.Capacity))
		switch {
		case sp.Short:
			s += fmt.Sprintf(", short (min_free %s, %d free files): new files overflow", iecBytes(sp.MinFree), sp.FreeFiles)
		case sp.BelowTarget:
			s += fmt.Sprintf(", below target (target_free %s)", iecBytes(sp.TargetFree))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// spilledSummary tells, per tier, how many files spilled there wait for
// the mover to take them home ("" if none).
func spilledSummary(ts []fs.TierStatus) string {
	var parts []string
	for _, t := range ts {
		if t.Spilled > 0 {
			parts = append(parts, fmt.Sprintf("%d files on %s", t.Spilled, t.Name))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + " (go home while young, once their tier has room)"
}

// overflowSummary tells how many new files went to another tier than
// their rule's for want of space.
func overflowSummary(ovs []fs.Overflow, retries uint64) string {
	parts := make([]string, 0, len(ovs)+1)
	for _, o := range ovs {
		parts = append(parts, fmt.Sprintf("%s→%s %d files", o.From, o.To, o.Creates))
	}
	return strings.Join(append(parts, fmt.Sprintf("%d creates retried after ENOSPC", retries)), ", ")
}

// clusterSummary tells which host this is in its cluster and what its
// users' leases did.
func clusterSummary(c *fs.LeaseStats) string {
	line := fmt.Sprintf("host %s, %d users held, %d known; leases %d acquired, %d released, %d refused (EIO), %d hostchanges, %d lost, %d drop errors",
		c.Host, c.Held, c.Users, c.Acquired, c.Released, c.Refused, c.Hostchanges, c.Lost, c.DropErrors)
	if len(c.Protocol) > 0 {
		var parts []string
		for _, k := range sortedKeys(c.Protocol) {
			parts = append(parts, fmt.Sprintf("%s %d", strings.ReplaceAll(k, "_", " "), c.Protocol[k]))
		}
		line += "; protocol: " + strings.Join(parts, ", ")
	}
	return line
}

// dirSummary tells how often backend calls found their directory's
// descriptor cached, over all tiers.
func dirSummary(ts []fs.TierStatus) string {
	var hits, misses uint64
	for _, t := range ts {
		hits, misses = hits+t.DirHits, misses+t.DirMisses
	}
	if hits+misses == 0 {
		return "no backend calls yet"
	}
	return fmt.Sprintf("%d cached, %d walked (%.1f%% cached)", hits, misses, 100*float64(hits)/float64(hits+misses))
}

// clockSummary tells how far an nfs tier's server clock is from this
// host's, with a warning beyond fs.ClockWarnSkew ("" if not measured).
func clockSummary(t fs.TierStatus) string {
	if t.ClockSkew == nil {
		return ""
	}
	skew := time.Duration(*t.ClockSkew * float64(time.Second))
	line := fmt.Sprintf("tier %s: server clock %+.3fs from this host's", t.Name, skew.Seconds())
	if t.ClockSkewAt != nil {
		line += fmt.Sprintf(" (measured %s)", t.ClockSkewAt.Local().Format(time.TimeOnly))
	}
	if skew.Abs() > fs.ClockWarnSkew {
		line += fmt.Sprintf(" WARNING: over %v; mail ages by the server's times, sync both clocks (NTP)", fs.ClockWarnSkew)
	}
	return line
}

// nodeSummary tells how many nodes the daemon keeps for the kernel's
// inodes, against the cap, and how the kernel is asked to drop them.
func nodeSummary(n fs.NodeStats) string {
	limit := "no cap"
	if n.Max > 0 {
		limit = fmt.Sprintf("cap %d", n.Max)
	}
	var by string
	switch n.Method {
	case fs.PruneMethodPrune:
		by = " by FUSE_NOTIFY_PRUNE"
	case fs.PruneMethodEntry:
		by = " by entry invalidation"
	}
	return fmt.Sprintf("%d live (%s), %d pruned%s, %d forgotten", n.Live, limit, n.Pruned, by, n.Forgotten)
}

// requestSummary lists FUSE requests by opcode, most frequent first.
func requestSummary(m map[string]uint64) string {
	type kv struct {
		op string
		n  uint64
	}
	var all []kv
	var total uint64
	for op, n := range m {
		all = append(all, kv{op, n})
		total += n
	}
	slices.SortFunc(all, func(a, b kv) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.op, b.op))
	})
	parts := make([]string, len(all))
	for i, e := range all {
		parts[i] = fmt.Sprintf("%s %d", e.op, e.n)
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d total (%s)", total, strings.Join(parts, ", "))
}

// moverSummary tells, in a line or three, how the mover is paced and
// what it moved since the daemon started, the pass it is running and how
// its last pass went. A report it cannot read is shown as it came.
func moverSummary(raw json.RawMessage) []string {
	var s mover.Stats
	if json.Unmarshal(raw, &s) != nil {
		return []string{"mover: " + string(raw)}
	}
	pace := "on demand only"
	if s.Interval > 0 {
		pace = "every " + config.FormatDuration(s.Interval)
	}
	if s.BytesPerSecond > 0 {
		pace += ", at most " + iecBytes(uint64(s.BytesPerSecond)) + "/s"
	}
	if s.FilesPerSecond > 0 {
		pace += fmt.Sprintf(", at most %g files/s", s.FilesPerSecond)
	}
	passes := "passes"
	if s.Runs == 1 {
		passes = "pass"
	}
	lines := []string{fmt.Sprintf("mover: %s; %d %s moved %d files, %s; %d failed%s",
		pace, s.Runs, passes, s.Files, iecBytes(uint64(s.Bytes)), s.Failed, roomAndSkips(s.MadeRoom, s.Skipped))}
	if s.HeldUntil != nil {
		lines = append(lines, "mover held until "+s.HeldUntil.Local().Format(time.DateTime)+" (tierfs hold): no pass runs")
	}
	if p := s.Running; p != nil {
		lines = append(lines, "mover pass running: "+progressLine(p))
	}
	if l := s.Last; l != nil {
		line := fmt.Sprintf("mover last pass: %s, %d files scanned, %d moved, %s; %d failed%s",
			l.Started.Local().Format(time.DateTime), l.Scanned, l.Files, iecBytes(uint64(l.Bytes)), l.Failed, roomAndSkips(l.MadeRoom, l.Skipped))
		if l.Scope != nil {
			line += "; scope: " + l.Scope.String()
		}
		for _, k := range sortedKeys(l.Returned) {
			line += fmt.Sprintf("; returned from %s: %d files, %s", k, l.Returned[k].Files, iecBytes(uint64(l.Returned[k].Bytes)))
		}
		if l.Stopped != "" {
			line += "; stopped early: " + l.Stopped
		}
		for _, n := range l.Notes {
			line += "; note: " + n
		}
		lines = append(lines, line)
	}
	return lines
}

// roomAndSkips lists the room made by tier and the files skipped by
// reason, each part led by "; " ("" when both are empty).
func roomAndSkips(room map[string]mover.Count, skipped map[string]int64) string {
	var b strings.Builder
	for _, k := range sortedKeys(room) {
		fmt.Fprintf(&b, "; made room on %s: %d files, %s", k, room[k].Files, iecBytes(uint64(room[k].Bytes)))
	}
	var parts []string
	for _, k := range sortedKeys(skipped) {
		if skipped[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, skipped[k]))
		}
	}
	if len(parts) > 0 {
		b.WriteString("; skipped " + strings.Join(parts, ", "))
	}
	return b.String()
}

// iecBytes renders n as "12.3 MiB".
func iecBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// tierfsMounts lists the mount points of type fuse.tierfs.
func tierfsMounts() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	return parseTierfsMounts(string(data)), nil
}

func parseTierfsMounts(mounts string) []string {
	var out []string
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == "fuse.tierfs" {
			out = append(out, mountinfo.Unescape(f[1]))
		}
	}
	return out
}
