package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/tierfs/tierfs/config"
	tfs "github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// defaultStateDir holds the persistent tiers of the embedded default.
const defaultStateDir = "/var/lib/tierfs"

// mountArgs are the parsed arguments of "tierfs mount".
type mountArgs struct {
	config     string
	stateDir   string
	foreground bool
	logFile    string
	options    optionList
	mountpoint string
}

func parseMountArgs(args []string) (*mountArgs, error) {
	a := &mountArgs{}
	fset := newFlagSet("mount")
	fset.StringVar(&a.config, "config", "", "config `file` (default: the embedded Dovecot preset)")
	fset.StringVar(&a.stateDir, "state-dir", defaultStateDir, "state `dir` holding the embedded default's persistent tiers")
	fset.BoolVar(&a.foreground, "foreground", false, "serve in the foreground instead of daemonizing")
	fset.StringVar(&a.logFile, "log-file", "", "append logs to `file` (default: standard error)")
	fset.Var(&a.options, "o", "mount `options`, comma-separated as mount(8) spells them")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, usageError{"mount: want exactly one MOUNTPOINT"}
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
	if err := cfg.Check(a.mountpoint); err != nil {
		return err
	}
	if !a.foreground && !isDaemonChild() {
		return daemonize()
	}
	logger, closeLog, err := newLogger(a.logFile)
	if err != nil {
		return err
	}
	defer closeLog()
	err = serve(ctx, cfg, a, mo, logger)
	if isDaemonChild() {
		reportReady(err) // only reached on failure before the mount was up
	}
	return err
}

// serve opens the tiers, mounts, and serves until ctx ends or the
// filesystem is unmounted.
func serve(ctx context.Context, cfg *config.Config, a *mountArgs, mo fuse.MountOptions, logger *slog.Logger) error {
	ts, err := openTiers(cfg)
	if err != nil {
		return err
	}
	defer closeTiers(ts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root, err := tfs.NewRoot(ctx, tfs.Options{
		Tiers:      ts,
		Placement:  cfg.Placement,
		Logger:     logger,
		CrashPoint: os.Getenv("TIERFS_CRASHPOINT"),
	})
	if err != nil {
		return err
	}
	if mo.FsName == "" {
		mo.FsName = cfg.Source
	}
	mo.Name = "tierfs"
	mo.DirectMountStrict = os.Geteuid() == 0
	mo.MaxWrite = 1 << 20
	srv, err := root.Mount(ctx, a.mountpoint, tfs.MountOptions{
		MountOptions:    mo,
		EntryTimeout:    cfg.Kernel.EntryTimeout.Duration,
		AttrTimeout:     cfg.Kernel.AttrTimeout.Duration,
		NegativeTimeout: cfg.Kernel.NegativeTimeout.Duration,
	})
	if err != nil {
		return err
	}
	logger.Info("mounted", "mountpoint", a.mountpoint, "config", cfg.Source, "tiers", len(ts))
	if isDaemonChild() {
		reportReady(nil)
	}
	go func() {
		<-ctx.Done()
		unmount(srv, a.mountpoint, logger)
	}()
	srv.Wait()
	logger.Info("unmounted", "mountpoint", a.mountpoint)
	return nil
}

// unmount retries while the mount is busy, for a bounded time.
func unmount(srv interface{ Unmount() error }, mountpoint string, logger *slog.Logger) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := srv.Unmount()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logger.Error("cannot unmount; files are still open (see fuser -m)", "mountpoint", mountpoint, "err", err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// openTiers opens every tier of cfg, failing closed on a missing marker.
func openTiers(cfg *config.Config) ([]*tiers.Tier, error) {
	var ts []*tiers.Tier
	for i, t := range cfg.Tiers {
		tier, err := tiers.Open(tiers.Spec{Name: t.Name, Path: t.Path, Kind: string(t.Kind)}, i)
		if err != nil {
			closeTiers(ts)
			return nil, fmt.Errorf("%s: %w", cfg.Source, err)
		}
		ts = append(ts, tier)
	}
	return ts, nil
}

func closeTiers(ts []*tiers.Tier) {
	for _, t := range ts {
		t.Close()
	}
}

// newLogger logs as text to standard error or to a file.
func newLogger(path string) (*slog.Logger, func(), error) {
	w := io.Writer(os.Stderr)
	closeFn := func() {}
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, nil)), closeFn, nil
}
