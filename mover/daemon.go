package mover

import (
	"log/slog"
	"slices"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/tiers"
)

// Targets lists the tiers the mover may move files to under cfg: every
// rule's tier (misplaced files go back there) and every demote tier. The
// filesystem must be told them (fs.Options.MoveTargets) so that moved
// files keep their inode numbers.
func Targets(cfg *config.Config) []int {
	seen := make([]bool, len(cfg.Tiers))
	var out []int
	add := func(ti int) {
		if ti >= 0 && !seen[ti] {
			seen[ti] = true
			out = append(out, ti)
		}
	}
	for _, r := range cfg.Rules {
		for _, name := range append(slices.Clip(r.Tier), r.DemoteTo...) {
			add(cfg.TierIndex(name))
		}
	}
	return out
}

// NumberKeepers lists the tiers whose files may keep their inode number
// in an xattr under cfg: the move targets, and the tiers no rule names
// (pol.Unnamed), which hold only what earlier configs moved or placed
// there; a tier being retired is one, and leaving it out would change
// st_ino of the files moved to it at the next mount.
func NumberKeepers(cfg *config.Config, pol *Policy) []int {
	out := Targets(cfg)
	for ti, unnamed := range pol.Unnamed {
		if unnamed {
			out = append(out, ti)
		}
	}
	return out
}

// FromConfig returns the mover a daemon runs for cfg over its open
// tiers, moving with prim (the mounted *fs.Root). obs may be nil.
func FromConfig(cfg *config.Config, ts []*tiers.Tier, prim Primitive, obs Observer, log *slog.Logger) (*Mover, error) {
	pol, err := PolicyFrom(cfg)
	if err != nil {
		return nil, err
	}
	return New(Config{
		Tiers:    ts,
		Policy:   pol,
		Move:     prim,
		Limits:   LimitsFrom(cfg),
		Observer: obs,
		Logger:   log,
	})
}

// LimitsFrom returns the targets, interval and rate limits cfg gives,
// for a reload (SetLimits).
func LimitsFrom(cfg *config.Config) Limits {
	return Limits{
		Targets:        Targets(cfg),
		Interval:       cfg.Mover.Interval.Duration,
		BytesPerSecond: int64(cfg.Mover.BytesPerSecond),
		FilesPerSecond: cfg.Mover.FilesPerSecond,
	}
}
