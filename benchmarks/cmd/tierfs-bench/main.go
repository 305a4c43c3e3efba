// Command tierfs-bench runs tierfs's benchmark suite as root: the same
// workloads on a native tmpfs directory, tierfs, mergerfs and an emulated
// NFS tier, and writes a table of medians and ratios, JSON and an SVG
// chart.
//
//	go run ./benchmarks/cmd/tierfs-bench -out benchmarks/results          # full run
//	go run ./benchmarks/cmd/tierfs-bench -quick -out /tmp/bench           # about two minutes
//	go run ./benchmarks/cmd/tierfs-bench -targets native,tierfs -workloads micro
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/benchmarks/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tierfs-bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, out, render, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if render != "" {
		return rerender(render, out, stdout)
	}
	rep, runErr := bench.Run(ctx, opts)
	if rep == nil {
		return runErr
	}
	rep.Finish()
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if out != "" {
		if err := writeOutputs(rep, out); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintf(stdout, "\nwrote %s/{bench.json,bench.svg,bench.md}\n", out)
	}
	if runErr == nil && len(rep.Errors) > 0 {
		runErr = fmt.Errorf("%d target round(s) failed; see errors above", len(rep.Errors))
	}
	return runErr
}

// rerender reads a bench.json and writes its table and files again.
func rerender(path, out string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.Finish()
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	return writeOutputs(&rep, out)
}

func parseFlags(args []string, stderr io.Writer) (opts *bench.Options, out, render string, err error) {
	fset := flag.NewFlagSet("tierfs-bench", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var (
		outFlag     = fset.String("out", "", "directory for bench.json, bench.svg and bench.md (none if empty)")
		renderFlag  = fset.String("render", "", "do not run: re-render the table and files from this bench.json")
		quick       = fset.Bool("quick", false, "small sizes and 3 rounds: about two minutes")
		rounds      = fset.Int("rounds", 0, "rounds per target (default 5, or 3 with -quick)")
		targets     = fset.String("targets", strings.Join(bench.DefaultTargets(), ","), "comma-separated targets")
		workloads   = fset.String("workloads", strings.Join(bench.AllWorkloadNames(), ","), "comma-separated workloads")
		slowDelay   = fset.Duration("slow-delay", 250*time.Microsecond, "slowfs delay per metadata call and fsync")
		slowXattrs  = fset.Bool("slow-all-xattrs", false, "slowfs carries trusted.* and security.* xattrs, with a round trip's delay (an NFS client refuses them at once)")
		repo        = fset.String("repo", "", "module root to build tierfs from (default: found from the working directory)")
		workParent  = fset.String("workdir", "", "parent of the scratch directory (default $TMPDIR)")
		keep        = fset.Bool("keep", false, "keep the scratch directory (configs, daemon logs)")
		tmpfsSize   = fset.String("tmpfs-size", "8g", "size of the run's tmpfs")
		mergerfs    = fset.String("mergerfs", "/usr/bin/mergerfs", "mergerfs binary")
		mergerOpts  = fset.String("mergerfs-opts", bench.MergerfsOptions, "mergerfs -o options")
		postmark    = fset.String("postmark", "/usr/bin/postmark", "PostMark binary")
		counts      = fset.Bool("counts", false, "record FUSE request counts per workload where the target exposes them")
		metricsURL  = fset.String("tierfs-metrics-url", "", "Prometheus endpoint of the tierfs daemon, for -counts")
		metricName  = fset.String("tierfs-metric", "tierfs_fuse_requests_total", "counter with an op label, for -counts")
		configExtra = fset.String("tierfs-config-extra", "", "file of TOML appended to the generated tierfs configs")
		transport   = fset.String("tierfs-transport", "", "transport= of the tierfs mounts: dev (tierfs's default) or io_uring (turns the fuse module's enable_uring on for the run, and back)")
	)
	sizes := bench.FullSizes()
	var ov sizeOverrides
	ov.register(fset)
	if err := fset.Parse(args); err != nil {
		return nil, "", "", err
	}
	if fset.NArg() > 0 {
		return nil, "", "", fmt.Errorf("unexpected arguments: %q", fset.Args())
	}
	if *quick {
		sizes = bench.QuickSizes()
	}
	ov.apply(&sizes)
	if *rounds == 0 {
		*rounds = 5
		if *quick {
			*rounds = 3
		}
	}
	opts = &bench.Options{
		Rounds: *rounds, Sizes: sizes, Targets: splitList(*targets), Workloads: splitList(*workloads),
		SlowDelay: *slowDelay, SlowAllXattrs: *slowXattrs, WorkParent: *workParent, TmpfsSize: *tmpfsSize, KeepWorkdir: *keep,
		MergerfsBin: *mergerfs, MergerfsOpts: *mergerOpts, PostmarkBin: *postmark,
		Counts: *counts, TierfsMetricsURL: *metricsURL, TierfsMetric: *metricName,
		TierfsTransport: *transport,
		Log:             stderr,
	}
	if *configExtra != "" {
		b, err := os.ReadFile(*configExtra)
		if err != nil {
			return nil, "", "", fmt.Errorf("-tierfs-config-extra: %w", err)
		}
		opts.TierfsConfigExtra = string(b)
	}
	if *renderFlag != "" {
		return opts, *outFlag, *renderFlag, nil
	}
	if opts.RepoDir, err = findRepo(*repo); err != nil {
		return nil, "", "", err
	}
	return opts, *outFlag, "", opts.Validate()
}

// sizeOverrides are the per-size flags; zero keeps the preset.
type sizeOverrides struct {
	files, readdir, seqMiB, seqPasses, maildir, msgSize, pmFiles, pmTx, dcUsers, dcMsgs, dcClients int
}

func (o *sizeOverrides) register(f *flag.FlagSet) {
	f.IntVar(&o.files, "files", 0, "files per metadata micro-benchmark")
	f.IntVar(&o.readdir, "readdir-entries", 0, "entries in the readdir directory")
	f.IntVar(&o.seqMiB, "seq-mib", 0, "sequential file size in MiB")
	f.IntVar(&o.seqPasses, "seq-passes", 0, "sequential write+read passes per round (median reported)")
	f.IntVar(&o.maildir, "maildir-msgs", 0, "messages for maildir delivery")
	f.IntVar(&o.msgSize, "msg-size", 0, "message size in bytes (maildir and Dovecot)")
	f.IntVar(&o.pmFiles, "postmark-files", 0, "PostMark initial files")
	f.IntVar(&o.pmTx, "postmark-transactions", 0, "PostMark transactions")
	f.IntVar(&o.dcUsers, "dovecot-users", 0, "Dovecot users")
	f.IntVar(&o.dcMsgs, "dovecot-msgs", 0, "messages per Dovecot user")
	f.IntVar(&o.dcClients, "dovecot-clients", 0, "concurrent LMTP/IMAP sessions")
}

func (o *sizeOverrides) apply(s *bench.Sizes) {
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	set(&s.Files, o.files)
	set(&s.ReaddirEntries, o.readdir)
	if o.seqMiB != 0 {
		s.SeqBytes = int64(o.seqMiB) << 20
	}
	set(&s.SeqPasses, o.seqPasses)
	set(&s.MaildirMsgs, o.maildir)
	set(&s.MsgSize, o.msgSize)
	set(&s.PostmarkFiles, o.pmFiles)
	set(&s.PostmarkTx, o.pmTx)
	set(&s.DovecotUsers, o.dcUsers)
	set(&s.DovecotMsgs, o.dcMsgs)
	set(&s.DovecotClients, o.dcClients)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// findRepo returns dir, or the nearest parent of the working directory
// holding tierfs's go.mod.
func findRepo(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tierfs/tierfs\n") {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("not inside the tierfs module; run from the repository or pass -repo")
		}
		d = parent
	}
}

func writeOutputs(rep *bench.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"bench.json": rep.WriteJSON, "bench.svg": rep.WriteSVG, "bench.md": rep.WriteMarkdown,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := errors.Join(write(f), f.Close()); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
