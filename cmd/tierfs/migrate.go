package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/control"
	"github.com/tierfs/tierfs/mover"
)

// migrateArgs are the parsed arguments of "tierfs migrate".
type migrateArgs struct {
	config     string
	opts       mover.Options
	json       bool
	mountpoint string
}

func parseMigrateArgs(args []string) (*migrateArgs, error) {
	a := &migrateArgs{}
	fset := newFlagSet("migrate")
	fset.StringVar(&a.config, "config", "", "config `file`; if given, the daemon serving MOUNTPOINT must use it")
	fset.BoolVar(&a.opts.DryRun, "dry-run", false, "report what would move, move nothing")
	fset.StringVar(&a.opts.User, "user", "", "only the files of `USER` (rules with a {user} capture)")
	fset.BoolVar(&a.opts.Scheduled, "scheduled", false, "scope the pass as the daemon's schedule does (in a cluster, the whole tree only on the mover leader)")
	maxBytes := fset.String("max-bytes", "", "stop after moving `N` bytes (e.g. 10GiB)")
	fset.BoolVar(&a.json, "json", false, "print the pass's report as JSON")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, usageError{"migrate: want exactly one MOUNTPOINT"}
	}
	if *maxBytes != "" {
		n, err := config.ParseByteSize(*maxBytes)
		if err != nil || n == 0 {
			return nil, usageError{fmt.Sprintf("migrate: --max-bytes: %q is not a positive size (e.g. 10GiB)", *maxBytes)}
		}
		a.opts.MaxBytes = int64(n)
	}
	if a.mountpoint, err = filepath.Abs(pos[0]); err != nil {
		return nil, err
	}
	return a, nil
}

// runMigrate asks the daemon serving a mount point to run one mover pass
// now, waits for it (with a progress bar on a terminal) and prints what
// it did. It fails when a move failed.
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	a, err := parseMigrateArgs(args)
	if err != nil {
		return err
	}
	c := control.NewClient(control.SocketPath(control.RunDir(), a.mountpoint))
	if a.config != "" {
		if err := sameConfig(ctx, c, a.config); err != nil {
			return err
		}
	}
	done := make(chan struct{})
	if !a.json && isTerminal(stdout) {
		go showProgress(ctx, c, stdout, done)
	}
	var rep mover.Report
	err = c.Do(ctx, http.MethodPost, "/migrate", a.opts, &rep)
	close(done)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", a.mountpoint, err)
	}
	if a.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, &rep)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("migrate %s: %d failed", a.mountpoint, rep.Failed)
	}
	return nil
}

// sameConfig refuses to run when the daemon serves another config file.
func sameConfig(ctx context.Context, c *control.Client, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Config != abs {
		return fmt.Errorf("--config %s: the daemon serving %s uses %s", abs, st.Mountpoint, st.Config)
	}
	return nil
}

// printReport writes a pass's report for a person.
func printReport(w io.Writer, r *mover.Report) {
	verb := "moved"
	if r.DryRun {
		verb = "would move"
	}
	fmt.Fprintf(w, "%s %d files, %s", verb, r.Files, iecBytes(uint64(r.Bytes)))
	if len(r.Moves) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Moves) {
			parts = append(parts, fmt.Sprintf("%s %d files %s", k, r.Moves[k].Files, iecBytes(uint64(r.Moves[k].Bytes))))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, "; "))
	}
	if r.Linked > 0 {
		fmt.Fprintf(w, "; %d of them with all their hard links", r.Linked)
	}
	fmt.Fprintf(w, "\nscanned %d files in %v\n", r.Scanned, r.Finished.Sub(r.Started).Round(time.Millisecond))
	if r.Scope != nil {
		fmt.Fprintf(w, "scope: %s\n", r.Scope)
	}
	if r.Dirs > 0 {
		fmt.Fprintf(w, "%s %d directories off tiers no rule names or old members of their bucket\n", map[bool]string{false: "copied", true: "would copy"}[r.DryRun], r.Dirs)
	}
	printRoom(w, r)
	var skipped int64
	var parts []string
	for _, k := range sortedKeys(r.Skipped) {
		skipped += r.Skipped[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Skipped[k]))
	}
	if skipped > 0 {
		fmt.Fprintf(w, "skipped %d (retried next pass): %s\n", skipped, strings.Join(parts, ", "))
	} else {
		fmt.Fprintln(w, "skipped 0")
	}
	if r.OtherHosts > 0 {
		fmt.Fprintf(w, "skipped: %d users served by other hosts\n", r.OtherHosts)
	}
	fmt.Fprintf(w, "failed %d\n", r.Failed)
	for _, f := range r.Failures {
		if f.Path == "" {
			fmt.Fprintf(w, "  %s\n", f.Error)
		} else {
			fmt.Fprintf(w, "  %s: %s\n", f.Path, f.Error)
		}
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", r.Stopped)
	}
	printRebalance(w, r.Rebalance)
}

// printRebalance writes what a pass found of a pending rebalance.
func printRebalance(w io.Writer, rb *mover.RebalanceReport) {
	switch {
	case rb == nil:
	case rb.Finished:
		fmt.Fprintf(w, "rebalance: finished (%d old lists cleared)\n", rb.Pending)
	case rb.Left > 0:
		fmt.Fprintf(w, "rebalance: pending; %d names still on old members\n", rb.Left)
	case rb.Why != "":
		fmt.Fprintf(w, "rebalance: pending; none left on old members, but %s\n", rb.Why)
	default:
		fmt.Fprintln(w, "rebalance: pending; none left on old members (a dry run clears nothing)")
	}
}

// printRoom writes the early demotions of a pass, by the tier they made
// room on, the spilled files it brought home, and its notes about space.
func printRoom(w io.Writer, r *mover.Report) {
	verb := "made room"
	if r.DryRun {
		verb = "would make room"
	}
	for _, k := range sortedKeys(r.MadeRoom) {
		fmt.Fprintf(w, "%s: %d files, %s on %s\n", verb, r.MadeRoom[k].Files, iecBytes(uint64(r.MadeRoom[k].Bytes)), k)
	}
	verb = "returned"
	if r.DryRun {
		verb = "would return"
	}
	for _, k := range sortedKeys(r.Returned) {
		fmt.Fprintf(w, "%s: %d files, %s from %s, spilled there while their tier was short\n", verb, r.Returned[k].Files, iecBytes(uint64(r.Returned[k].Bytes)), k)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// showProgress redraws a progress line from GET /mover until done.
func showProgress(ctx context.Context, c *control.Client, w io.Writer, done <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	drawn := false
	for {
		select {
		case <-done:
			if drawn {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var st mover.Stats
		if c.Do(ctx, http.MethodGet, "/mover", nil, &st) != nil || st.Running == nil {
			continue
		}
		fmt.Fprint(w, "\r\033[K"+progressLine(st.Running))
		drawn = true
	}
}

// progressLine renders a running pass as a bar and counts.
func progressLine(p *mover.Progress) string {
	if p.Phase == "scanning" {
		return fmt.Sprintf("scanning tiers... (%v)", time.Since(p.Started).Round(time.Second))
	}
	const width = 30
	frac := 1.0
	if p.Bytes > 0 {
		frac = float64(p.BytesDone) / float64(p.Bytes)
	} else if p.Files > 0 {
		frac = float64(p.FilesDone) / float64(p.Files)
	}
	n := min(int(frac*width), width)
	return fmt.Sprintf("[%s%s] %d/%d files, %s/%s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		p.FilesDone, p.Files, iecBytes(uint64(p.BytesDone)), iecBytes(uint64(p.Bytes)))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return !errors.Is(err, unix.ENOTTY) && err == nil
}
