// Command fuseprobe measures what one FUSE round trip costs on this
// machine through three servers of the same trivial filesystem (package
// fuseprobe): go-fuse's server, as tierfs uses it; a bare loop of
// read(2) and write(2) on /dev/fuse; and FUSE over io_uring, one queue
// per CPU served by a thread pinned to it. mergerfs (libfuse) is
// measured beside them when its binary is there.
//
// Each server runs in a child process; the client loops getxattr of an
// attribute the file does not have (always one round trip, answered
// without work) on one thread and on two, for a few seconds, in every
// round, the targets in rotating order. It prints the median rates and
// their ratios to go-fuse's.
//
// Usage (as root):
//
//	fuseprobe [-rounds 5] [-seconds 2] [-enable-uring] [-mergerfs PATH]
//	fuseprobe serve -transport gofuse|dev|uring MOUNTPOINT
//
// FUSE over io_uring needs Linux 6.14+ with the fuse module's
// enable_uring parameter on; -enable-uring turns it on for the run and
// restores it afterwards. The second form is what the first runs.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/benchmarks/bench"
	"github.com/tierfs/tierfs/benchmarks/fuseprobe"
	"github.com/tierfs/tierfs/internal/fuseuring"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = serve(os.Args[2:])
	} else {
		err = run(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuseprobe:", err)
		os.Exit(1)
	}
}

// serve mounts one probe server and keeps it until SIGINT or SIGTERM.
func serve(args []string) error {
	fset := flag.NewFlagSet("fuseprobe serve", flag.ContinueOnError)
	transport := fset.String("transport", string(fuseprobe.GoFUSE), "gofuse, dev or uring")
	readers := fset.Int("readers", 3, "threads reading /dev/fuse (dev; uring for what bypasses the rings)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return errors.New("serve: want one mount point")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s, err := fuseprobe.Mount(fset.Arg(0), fuseprobe.Transport(*transport), *readers)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-sig
	dev, ring := s.Served()
	fmt.Fprintf(os.Stderr, "%s: answered %d requests over /dev/fuse, %d over io_uring\n", *transport, dev, ring)
	return s.Unmount()
}

type options struct {
	rounds      int
	seconds     time.Duration
	enableURing bool
	mergerfs    string
}

func run(args []string) error {
	var o options
	fset := flag.NewFlagSet("fuseprobe", flag.ContinueOnError)
	fset.IntVar(&o.rounds, "rounds", 5, "rounds; each measures every target")
	fset.DurationVar(&o.seconds, "seconds", 2*time.Second, "length of one measurement")
	fset.BoolVar(&o.enableURing, "enable-uring", false, "turn the fuse module's enable_uring on for the run, and back")
	fset.StringVar(&o.mergerfs, "mergerfs", "/usr/bin/mergerfs", "mergerfs binary, measured beside the probes if present")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 || o.seconds <= 0 {
		return fmt.Errorf("-rounds %d -seconds %v: want at least one round of some length", o.rounds, o.seconds)
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (mount(2) and /dev/fuse)")
	}
	if o.enableURing {
		restore, err := fuseuring.SetEnabled(true)
		if err != nil {
			return err
		}
		defer func() {
			if err := restore(); err != nil {
				fmt.Fprintf(os.Stderr, "fuseprobe: restore %s: %v\n", fuseuring.EnableParam, err)
			}
		}()
	}
	work, err := os.MkdirTemp("", "fuseprobe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	targets, notes, err := pickTargets(o, work)
	if err != nil {
		return err
	}
	res := map[string]*[2][]float64{}
	for r := range o.rounds {
		for i := range targets {
			tg := targets[(i+r)%len(targets)]
			rates, err := measure(tg, o.seconds)
			if err != nil {
				return fmt.Errorf("%s: %w", tg.name, err)
			}
			if res[tg.name] == nil {
				res[tg.name] = &[2][]float64{}
			}
			for k := range rates {
				res[tg.name][k] = append(res[tg.name][k], rates[k])
			}
			fmt.Fprintf(os.Stderr, "round %d %-8s %8.0f %8.0f\n", r+1, tg.name, rates[0], rates[1])
		}
	}
	report(os.Stdout, o, targets, res, notes)
	return nil
}

// target is one server to measure: start mounts it and returns its
// file and a function that unmounts it.
type target struct {
	name  string
	start func() (file string, stop func() error, err error)
}

func pickTargets(o options, work string) ([]target, []string, error) {
	self, err := os.Executable() // the servers are this program's serve mode
	if err != nil {
		return nil, nil, err
	}
	var ts []target
	var notes []string
	for _, tr := range fuseprobe.Transports() {
		if tr == fuseprobe.IOURing && !fuseuring.Enabled() {
			notes = append(notes, "uring: not measured, "+fuseuring.EnableParam+" is off (-enable-uring turns it on for the run)")
			continue
		}
		mnt := filepath.Join(work, string(tr))
		ts = append(ts, target{string(tr), func() (string, func() error, error) {
			return startChild(self, mnt, tr)
		}})
	}
	if _, err := os.Stat(o.mergerfs); err == nil {
		ts = append(ts, target{"mergerfs", func() (string, func() error, error) {
			return startMergerfs(o.mergerfs, filepath.Join(work, "mergerfs"))
		}})
	} else {
		notes = append(notes, "mergerfs: not measured: "+err.Error())
	}
	return ts, notes, nil
}

// measure mounts t and times one thread, then two.
func measure(t target, d time.Duration) (rates [2]float64, err error) {
	file, stop, err := t.start()
	if err != nil {
		return rates, err
	}
	defer func() { err = errors.Join(err, stop()) }()
	for k := range rates {
		if rates[k], err = fuseprobe.Rate(file, d, k+1); err != nil {
			return rates, err
		}
	}
	return rates, nil
}

// startChild runs `fuseprobe serve` for one transport and waits until
// its mount answers.
func startChild(self, mnt string, tr fuseprobe.Transport) (string, func() error, error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "serve", "-transport", string(tr), mnt)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		return "", nil, errors.Join(fmt.Errorf("server did not start (%q, %v)", line, err), stop())
	}
	return filepath.Join(mnt, "f"), stop, nil
}

// startMergerfs mounts mergerfs, with the options of tierfs-bench's
// mergerfs target, over a directory holding the file f.
func startMergerfs(bin, dir string) (string, func() error, error) {
	branch, mnt := filepath.Join(dir, "branch"), filepath.Join(dir, "mnt")
	for _, p := range []string{branch, mnt} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(branch, "f"), nil, 0o644); err != nil {
		return "", nil, err
	}
	if out, err := exec.Command(bin, "-o", bench.MergerfsOptions, branch, mnt).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("%s: %w: %s", bin, err, out)
	}
	stop := func() error { return unix.Unmount(mnt, 0) }
	return filepath.Join(mnt, "f"), stop, nil
}

func report(w io.Writer, o options, targets []target, res map[string]*[2][]float64, notes []string) {
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Fprintf(w, "fuseprobe, %s, %d CPUs, kernel %s, %s; getxattr round trips a second, medians of %d rounds of %v\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), unix.ByteSliceToString(uts.Release[:]),
		runtime.Version(), o.rounds, o.seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\t1 thread\t2 threads\tx gofuse, 1\tx gofuse, 2\t")
	base := res[string(fuseprobe.GoFUSE)]
	for _, t := range targets {
		r := res[t.name]
		m1, m2 := bench.Median(r[0]), bench.Median(r[1])
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t\n", t.name, m1, m2, m1/bench.Median(base[0]), m2/bench.Median(base[1]))
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}
