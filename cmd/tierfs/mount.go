package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/tiers"
)

// defaultStateDir holds the persistent tiers of the embedded default.
const defaultStateDir = "/var/lib/tierfs"

// mountArgs are the parsed arguments of "tierfs mount".
type mountArgs struct {
	config      string
	stateDir    string
	foreground  bool
	logFile     string
	logFormat   string
	stopTimeout time.Duration
	options     optionList
	mountpoint  string
}

func parseMountArgs(args []string) (*mountArgs, error) {
	a := &mountArgs{}
	fset := newFlagSet("mount")
	fset.StringVar(&a.config, "config", "", "config `file` (default: the embedded Dovecot preset)")
	fset.StringVar(&a.stateDir, "state-dir", defaultStateDir, "state `dir` holding the embedded default's persistent tiers")
	fset.BoolVar(&a.foreground, "foreground", false, "serve in the foreground instead of daemonizing")
	fset.StringVar(&a.logFile, "log-file", "", "append logs to `file` (default: standard error in the foreground, syslog when daemonized)")
	fset.StringVar(&a.logFormat, "log-format", "text", "log `format`: text or json")
	fset.DurationVar(&a.stopTimeout, "stop-timeout", defaultStopTimeout, "on SIGTERM, how long to wait for busy files before detaching the mount lazily")
	fset.Var(&a.options, "o", "mount `options`, comma-separated as mount(8) spells them")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, usageError{"mount: want exactly one MOUNTPOINT"}
	}
	if _, err := parseLogFormat(a.logFormat); err != nil {
		return nil, usageError{"mount: --log-format: " + err.Error()}
	}
	mp, err := filepath.Abs(pos[0])
	if err != nil {
		return nil, err
	}
	a.mountpoint = mp
	return a, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, as mount(8) helpers are called.
func parseInterspersed(fset *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fset.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loadConfig reads the config file, or builds the embedded default.
func loadConfig(path, stateDir string) (*config.Config, error) {
	if path == "" {
		return config.Default(stateDir), nil
	}
	return config.Load(path)
}

func runMount(ctx context.Context, args []string, stdout io.Writer) error {
	a, err := parseMountArgs(args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(a.config, a.stateDir)
	if err != nil {
		return err
	}
	mo, err := parseMountOptions(a.options, os.Geteuid() == 0)
	if err != nil {
		return err
	}
	if mo.logFile != "" {
		a.logFile = mo.logFile
	}
	if mo.logFormat != "" {
		a.logFormat = mo.logFormat
	}
	if err := cfg.Check(a.mountpoint); err != nil {
		return err
	}
	if err := checkNotServed(a.mountpoint); err != nil {
		return err
	}
	if !a.foreground && !isDaemonChild() {
		if a.logFile == "" && !syslogAvailable() {
			fmt.Fprintf(os.Stderr, "tierfs: warning: no syslog at %s; the daemon's logs are discarded (use -o log_file=FILE or --log-file)\n", syslogSocket)
		}
		return daemonize()
	}
	// From here on SIGHUP reloads instead of killing the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	dest, err := openLogDest(a.logFile, isDaemonChild())
	if err != nil {
		return err
	}
	defer dest.close()
	if isDaemonChild() && dest.takeStderr != nil {
		if err := dest.takeStderr(); err != nil {
			return err
		}
	}
	format, _ := parseLogFormat(a.logFormat)
	d := &mountd{args: a, opts: mo.fuse, transport: mo.transport, log: newLogger(dest, format), logDest: dest, started: time.Now()}
	d.cfg.Store(cfg)
	err = d.run(ctx, hup)
	if isDaemonChild() {
		reportReady(err) // only reached on failure before the mount was up
	}
	if err != nil {
		d.log.Error("mount failed", "mountpoint", a.mountpoint, "err", err)
	}
	return err
}

// checkNotServed refuses a mount point a live tierfs mount already
// covers, before the tiers are opened. A stale one, left by a daemon
// that died (ENOTCONN), may be mounted over.
func checkNotServed(mountpoint string) error {
	mp := mountpoint
	if p, err := filepath.EvalSymlinks(mountpoint); err == nil {
		mp = p
	}
	for _, m := range tierfsMountEntries() {
		if m.point != mp {
			continue
		}
		if _, err := os.Stat(mp); errors.Is(err, syscall.ENOTCONN) {
			return nil
		}
		return fmt.Errorf("mount point %s is already a tierfs mount (of %s); unmount it first", mountpoint, m.source)
	}
	return nil
}

// openTiers opens every tier of cfg for serving, failing closed on a
// missing marker, and locks each one: a tier another daemon serves is
// refused before anything on it is touched (mount replays the journal
// and clears move temporaries, which would break the other daemon).
func openTiers(cfg *config.Config) ([]*tiers.Tier, error) {
	var ts []*tiers.Tier
	for i := range cfg.Tiers {
		tier, err := tiers.Open(tierSpec(cfg, i), i)
		if err == nil {
			if err = tier.Lock(); err != nil {
				tier.Close()
			}
		}
		if err != nil {
			closeTiers(ts)
			return nil, fmt.Errorf("%s: %w", cfg.Source, err)
		}
		ts = append(ts, tier)
	}
	return ts, nil
}

// tierSpec is what tiers.Open needs of cfg's tier i.
func tierSpec(cfg *config.Config, i int) tiers.Spec {
	t := cfg.Tiers[i]
	s := tiers.Spec{Name: t.Name, Path: t.Path, Kind: string(t.Kind), UUID: t.UUID,
		MinFree: tiers.Reserve(t.MinFree), TargetFree: tiers.Reserve(t.TargetFree)}
	if t.Shared {
		s.Host = cfg.Cluster.Host
	}
	return s
}

// closeTiers closes the tiers that were opened; nil entries are tiers
// that were not (an absent tmpfs tier in check).
func closeTiers(ts []*tiers.Tier) {
	for _, t := range ts {
		if t != nil {
			t.Close()
		}
	}
}
