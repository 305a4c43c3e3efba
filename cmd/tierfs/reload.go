package main

import (
	"fmt"
	"slices"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/control"
	"github.com/tierfs/tierfs/mover"
	"github.com/tierfs/tierfs/tiers"
)

// reload rereads the config file and puts its placement rules into force
// for new files, the tiers' min_free and target_free, and its mover
// targets, interval and rate limits into the running mover. It changes nothing when the file is broken or
// changes the tiers (which cannot change under a mounted filesystem); the
// old rules stay and the reason is logged and returned. Kernel timeouts, the
// cache sizes and the metrics listener are set at mount and only take
// effect at the next mount. A log file is reopened, for logrotate.
func (d *mountd) reload() (*control.ReloadResult, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.logDest.reopen != nil {
		if err := d.logDest.reopen(); err != nil {
			d.log.Error("reopen log file", "err", err)
		}
	}
	old := d.cfg.Load()
	cfg, err := loadConfig(d.args.config, d.args.stateDir)
	if err == nil {
		err = sameTiers(old, cfg)
	}
	if err == nil {
		err = d.reloadRebalance(cfg)
	}
	var pol *mover.Policy
	if err == nil {
		pol, err = mover.PolicyFrom(cfg)
	}
	if err == nil {
		err = d.root.SetPlacement(cfg.Placement)
	}
	if err != nil {
		d.log.Error("reload failed; keeping the old rules", "config", old.Source, "err", err)
		return nil, fmt.Errorf("reload failed; keeping the old rules: %w", err)
	}
	if cfg.Kernel != old.Kernel || cfg.Metrics != old.Metrics || cfg.Cache.Memory() != old.Cache.Memory() {
		d.log.Warn("reload: [kernel], [cache] and [metrics] changes take effect at the next mount", "config", cfg.Source)
	}
	d.cfg.Store(cfg)
	for i, t := range cfg.Tiers {
		d.tiers[i].SetReserves(tiers.Reserve(t.MinFree), tiers.Reserve(t.TargetFree))
	}
	lim := mover.LimitsFrom(cfg)
	// The root learns the new targets first, so a file the mover moves
	// there is already looked up by the inode number it keeps.
	d.root.AddMoveTargets(lim.Targets)
	d.mover.SetPolicy(pol)
	d.mover.SetLimits(lim)
	d.log.Info("reloaded", "config", cfg.Source, "rules", len(cfg.Rules))
	return &control.ReloadResult{Config: cfg.Source, Rules: len(cfg.Rules)}, nil
}

// sameTiers refuses a new config whose tiers differ from the mounted
// ones in number, order, name, path, kind or uuid. min_free and
// target_free may change: they are thresholds on the space samples.
func sameTiers(old, cfg *config.Config) error {
	if slices.EqualFunc(old.Tiers, cfg.Tiers, func(a, b config.Tier) bool {
		a.MinFree, a.TargetFree = b.MinFree, b.TargetFree
		return a == b
	}) {
		return nil
	}
	return fmt.Errorf("%s: the tiers changed (mounted: %s; file: %s); tiers cannot change while mounted: unmount and mount again",
		cfg.Source, tierList(old.Tiers), tierList(cfg.Tiers))
}

func tierList(ts []config.Tier) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s=%s(%s)", t.Name, t.Path, t.Kind)
		if t.UUID != "" {
			s += "[uuid " + t.UUID + "]" // without it the two lists could read the same
		}
	}
	return s
}
