package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/cluster"
	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/control"
	tfs "github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/metrics"
	"github.com/tierfs/tierfs/mover"
	"github.com/tierfs/tierfs/tiers"
)

// defaultStopTimeout is how long SIGTERM waits for busy files.
const defaultStopTimeout = 10 * time.Second

// mountd is one serving mount: the filesystem and what the operator
// reaches it by (signals, control socket, metrics).
type mountd struct {
	args      *mountArgs
	opts      fuse.MountOptions
	transport tfs.Transport
	log       *slog.Logger
	logDest   *logDest
	started   time.Time

	cfg      atomic.Pointer[config.Config] // the config in force (rules change on reload)
	reloadMu sync.Mutex                    // one reload at a time
	root     *tfs.Root
	tiers    []*tiers.Tier    // open while serving; reload sets their reserves
	metrics  *metrics.Metrics // nil when [metrics] is off
	mover    *mover.Mover
	// rebalance is this host's record of tier lists and unfinished
	// rebalances; its pending old lists are in the rules in force.
	rebalance *rebalanceRecord
}

// run opens the tiers, mounts, and serves until ctx ends (SIGTERM,
// SIGINT) or the filesystem is unmounted; SIGHUP on hup reloads. Every
// listener is set up before the mount, so that a failure leaves nothing
// mounted.
func (d *mountd) run(ctx context.Context, hup <-chan os.Signal) error {
	cfg := d.cfg.Load()
	a := d.args
	// The control socket first: a daemon already serving this mount
	// point is found before the tiers are opened.
	ctl, err := d.listenControl()
	if err != nil {
		return err
	}
	defer func() {
		if ctl != nil {
			ctl.Close()
		}
	}()
	ts, err := openTiers(cfg)
	if err != nil {
		return err
	}
	defer closeTiers(ts)
	// Before anything is replayed or served: a tier removed from the
	// config must not take mail out of sight.
	if err := checkRetired(ts); err != nil {
		return fmt.Errorf("%s: %w", cfg.Source, err)
	}
	if err := recordMembers(ts); err != nil {
		return err
	}
	if err := d.openRebalance(cfg, ts); err != nil {
		return err
	}
	d.tiers = ts
	if cfg.Metrics.Listen != "" {
		d.metrics = metrics.New(func() tfs.Status { return d.root.Status() })
		for _, t := range ts {
			t.Observe = d.metrics.TierObserver(t.Name)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pausePoint, pauseFor, err := parsePausePoint(os.Getenv("TIERFS_PAUSEPOINT"))
	if err != nil {
		return err
	}
	pol, err := mover.PolicyFrom(cfg)
	if err != nil {
		return err
	}
	mem := cfg.Cache.Memory()
	o := fsOptions(cfg, pol, ts, d.log)
	o.PausePoint, o.PauseFor = pausePoint, pauseFor
	o.CacheSize, o.MaxNodes = mem.MetadataBytes, mem.MaxNodes
	leases, err := d.joinCluster(ctx, cfg, ts, &o)
	if err != nil {
		return err
	}
	d.root, err = tfs.NewRoot(ctx, o)
	if err != nil {
		d.leaveCluster(leases)
		return err
	}
	defer d.root.Close()
	defer d.leaveCluster(leases)
	var moved mover.Observer
	if d.metrics != nil {
		moved = d.metrics.Mover
	}
	if d.mover, err = mover.FromConfig(cfg, ts, d.root, moved, d.log); err != nil {
		return err
	}
	d.mover.SetRebalanced(d.rebalanced)
	if leases != nil {
		d.mover.SetCluster(cfg.Cluster.Host, leases.Leader)
	}
	if d.metrics != nil {
		network, address := cfg.Metrics.Network()
		ep, err := metrics.Start(network, address, d.metrics.Handler())
		if err != nil {
			return fmt.Errorf("%s: metrics.listen: %w", cfg.Source, err)
		}
		defer ep.Close()
		d.log.Info("serving metrics", "listen", cfg.Metrics.Listen)
	}
	if ctl != nil {
		d.registerControl(ctl)
		d.mover.Register(ctl)
	}

	srv, err := d.mount(ctx, cfg)
	if err != nil {
		return err
	}
	procs := raiseProcs(srv)
	if ctl != nil {
		go ctl.Serve()
	}
	go d.mover.Run(ctx)
	d.log.Info("mounted", "mountpoint", a.mountpoint, "config", cfg.Source, "tiers", len(ts), "transport", cmp.Or(d.transport, tfs.TransportDev), "gomaxprocs", procs)
	if err := sdNotify("READY=1", "STATUS=serving "+a.mountpoint); err != nil {
		d.log.Warn("cannot notify the service manager", "err", err)
	}
	if isDaemonChild() {
		reportReady(nil)
	}
	d.loop(ctx, srv, hup)
	// Stop answering status and migrate before the root and the tiers
	// they use are closed.
	if ctl != nil {
		ctl.Close()
		ctl = nil
	}
	return nil
}

// joinCluster opens the cluster's leases on the lease tier, starts the
// heartbeat and puts them in o; it does nothing outside a cluster (nil
// leases). Open waits out a heartbeat a crashed run of this host left.
func (d *mountd) joinCluster(ctx context.Context, cfg *config.Config, ts []*tiers.Tier, o *tfs.Options) (*cluster.Leases, error) {
	cl := cfg.Cluster
	if cl == nil {
		return nil, nil
	}
	leases, err := cluster.Open(ctx, cluster.Options{Tier: ts[cfg.LeaseTier()], Host: cl.Host,
		HostTimeout: cl.HostTimeout.Duration, LeaseWait: cl.LeaseWait.Duration, Logger: d.log,
		CrashPoint: os.Getenv("TIERFS_CRASHPOINT")})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Source, err)
	}
	go leases.Run(ctx)
	o.Cluster = &tfs.ClusterOptions{
		Leases:        leases,
		UserDirs:      cl.UserDirs,
		ReleaseAfter:  cl.ReleaseAfter.Duration,
		Host:          cl.Host,
		SharedTimeout: cl.SharedTimeout.Duration,
		Protocol:      func() map[string]uint64 { return protocolCounts(leases.Stats()) },
		Dead:          leases.Dead,
	}
	d.log.Info("joined the cluster", "host", cl.Host, "lease_tier", ts[cfg.LeaseTier()].Name,
		"host_timeout", cl.HostTimeout.Duration, "release_after", cl.ReleaseAfter.Duration,
		"shared_timeout", cl.SharedTimeout.Duration)
	return leases, nil
}

// protocolCounts names the lease protocol's counters for status and
// metrics.
func protocolCounts(s cluster.Stats) map[string]uint64 {
	return map[string]uint64{"waited": s.Waited, "stolen": s.Stolen, "heartbeat_failures": s.HeartbeatFailures,
		"broken_locks": s.BrokenLocks, "lost": s.Lost}
}

// leaveCluster releases the leases this host holds and writes its
// heartbeat as gone, so that other hosts take its users at once.
func (d *mountd) leaveCluster(leases *cluster.Leases) {
	if leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if d.root != nil {
		d.root.ReleaseLeases(ctx)
	}
	if err := leases.Close(ctx); err != nil {
		d.log.Warn("cluster: cannot write the last heartbeat; other hosts wait for it to expire", "err", err)
	}
}

// leaveTimeout bounds the releases and the last heartbeat at shutdown.
const leaveTimeout = 10 * time.Second

// fsOptions are the filesystem's options over the open tiers ts of cfg:
// the mount adds its kernel-facing settings, and check --repair replays
// the journal with them as the mount would.
func fsOptions(cfg *config.Config, pol *mover.Policy, ts []*tiers.Tier, log *slog.Logger) tfs.Options {
	return tfs.Options{
		Tiers:       ts,
		Placement:   cfg.Placement,
		Logger:      log,
		CrashPoint:  os.Getenv("TIERFS_CRASHPOINT"),
		MoveTargets: mover.NumberKeepers(cfg, pol),
	}
}

// listenControl creates the mount's control socket. Without one the
// mount still serves mail, so only a socket another daemon answers on
// (the mount point is taken) is an error; other failures are logged and
// give a nil server.
func (d *mountd) listenControl() (*control.Server, error) {
	ctl, err := control.Listen(control.SocketPath(control.RunDir(), d.args.mountpoint))
	switch {
	case errors.Is(err, control.ErrInUse):
		return nil, err
	case err != nil:
		d.log.Warn("no control socket; tierfs status will not see this mount", "err", err)
		return nil, nil
	}
	return ctl, nil
}

// mount mounts the root with the kernel settings of cfg.
func (d *mountd) mount(ctx context.Context, cfg *config.Config) (tfs.Server, error) {
	mo := d.opts
	if mo.FsName == "" {
		mo.FsName = cfg.Source
	}
	mo.Name = "tierfs"
	mo.Logger = d.logDest.stdLogger() // -o debug traces to where the daemon logs
	mo.DirectMountStrict = os.Geteuid() == 0
	mo.MaxWrite = 1 << 20
	return d.root.Mount(ctx, d.args.mountpoint, tfs.MountOptions{
		MountOptions:    mo,
		Transport:       d.transport,
		EntryTimeout:    cfg.Kernel.EntryTimeout.Duration,
		AttrTimeout:     cfg.Kernel.AttrTimeout.Duration,
		NegativeTimeout: cfg.Kernel.NegativeTimeout.Duration,
	})
}

// loop serves signals until the filesystem is gone.
func (d *mountd) loop(ctx context.Context, srv tfs.Server, hup <-chan os.Signal) {
	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
	}()
	for {
		select {
		case <-done:
			d.log.Info("unmounted", "mountpoint", d.args.mountpoint)
			return
		case <-hup:
			d.log.Info("SIGHUP: reloading", "config", d.cfg.Load().Source)
			d.reload()
		case <-ctx.Done():
			sdNotify("STOPPING=1", "STATUS=unmounting "+d.args.mountpoint)
			d.log.Info("stopping: unmounting", "mountpoint", d.args.mountpoint)
			d.stop(srv, done)
			<-done
			d.log.Info("unmounted", "mountpoint", d.args.mountpoint)
			return
		}
	}
}

// stop unmounts, retrying while files are open for up to the stop
// timeout and naming the processes that hold them. If they are still
// open then, the mount is detached lazily: nothing new can enter it, the
// open files keep working, and the daemon exits when the last is closed
// (rather than being killed and leaving a dead mount behind).
func (d *mountd) stop(srv tfs.Server, done <-chan struct{}) {
	mp := d.args.mountpoint
	deadline := time.Now().Add(d.args.stopTimeout)
	reported := false
	for {
		err := srv.Unmount()
		if err == nil {
			return
		}
		if !errors.Is(err, unix.EBUSY) {
			d.log.Error("unmount failed", "mountpoint", mp, "err", err)
		} else if !reported {
			d.logHolders("mount is busy; waiting for open files to close", mp)
			reported = true
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-done: // unmounted from outside meanwhile
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	d.logHolders("still busy after the stop timeout; detaching lazily and serving open files until they close", mp)
	if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
		d.log.Error("lazy unmount failed", "mountpoint", mp, "err", err)
	}
}

// logHolders logs msg with the processes holding files under mp.
func (d *mountd) logHolders(msg, mp string) {
	hs := busyHolders(mp)
	list := make([]string, len(hs))
	for i, h := range hs {
		list[i] = h.String()
	}
	d.log.Warn(msg, "mountpoint", mp, "timeout", d.args.stopTimeout, "holders", list)
}

// parsePausePoint reads TIERFS_PAUSEPOINT=STEP:DURATION, a test hook that
// holds the daemon at a named step of a multi-step change.
func parsePausePoint(v string) (string, time.Duration, error) {
	if v == "" {
		return "", 0, nil
	}
	step, d, ok := strings.Cut(v, ":")
	dur, err := time.ParseDuration(d)
	if !ok || step == "" || err != nil || dur <= 0 {
		return "", 0, fmt.Errorf("TIERFS_PAUSEPOINT=%q: want STEP:DURATION, e.g. move-after-rename:2s", v)
	}
	return step, dur, nil
}
