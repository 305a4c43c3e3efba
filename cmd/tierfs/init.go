package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/tiers"
)

// checkPinned verifies the marker of a tier whose config pins a UUID.
// init never writes one then: a new marker would get another UUID, and
// a missing one most likely means the tier's filesystem is not mounted.
func checkPinned(t config.Tier) error {
	m, err := tiers.ReadMarker(t.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("tier %q: the config pins uuid %s but %s has no marker: is its filesystem mounted? (for a new tier, remove the uuid, run init, and pin the one it prints)", t.Name, t.UUID, t.Path)
	case err != nil:
		return fmt.Errorf("tier %q: %w", t.Name, err)
	case m.Name != t.Name || !strings.EqualFold(m.UUID, t.UUID):
		return fmt.Errorf("tier %q: the config pins uuid %s but %s is marked as tier %q with uuid %s: is the right filesystem mounted there?", t.Name, t.UUID, t.Path, m.Name, m.UUID)
	}
	return nil
}

// runInit writes the marker of every persistent tier. It is the only
// place markers are made: a mount never creates one, so an unmounted
// NFS directory is refused instead of filled.
func runInit(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("init")
	cfgPath := fset.String("config", "", "config `file` (default: the embedded Dovecot preset)")
	stateDir := fset.String("state-dir", defaultStateDir, "state `dir` of the embedded default (created if missing)")
	forget := fset.String("forget", "", "forget the removed tier `name`: the next mount no longer checks it for files it would hide")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	// A forgotten --config would otherwise mark the default's tiers.
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("init: unexpected argument %q (init takes no positional arguments; a config file is given with --config)", pos[0])}
	}
	cfg, err := loadConfig(*cfgPath, *stateDir)
	if err != nil {
		return err
	}
	for _, t := range cfg.Tiers {
		if !t.Kind.Persistent() {
			fmt.Fprintf(stdout, "tier %s: %s (tmpfs, initialised at mount)\n", t.Name, t.Path)
			continue
		}
		if cfg.Source == config.DefaultSource {
			if err := os.MkdirAll(t.Path, 0o755); err != nil {
				return fmt.Errorf("tier %q: %w", t.Name, err)
			}
		}
		if fi, err := os.Stat(t.Path); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s: tier %q: path %s is not an existing directory", cfg.Source, t.Name, t.Path)
		}
		if t.UUID != "" {
			if err := checkPinned(t); err != nil {
				return fmt.Errorf("%s: %w", cfg.Source, err)
			}
			fmt.Fprintf(stdout, "tier %s: %s marked (uuid %s, pinned by the config)\n", t.Name, t.Path, t.UUID)
			continue
		}
		m, err := tiers.WriteMarker(t.Path, t.Name)
		if err != nil {
			return fmt.Errorf("tier %q: %w", t.Name, err)
		}
		fmt.Fprintf(stdout, "tier %s: %s marked (uuid %s; uuid = %q in its [[tier]] pins it)\n", t.Name, t.Path, m.UUID, m.UUID)
	}
	if *forget != "" {
		return forgetTier(cfg, *forget, stdout)
	}
	return nil
}

// forgetTier drops a tier removed from the config from the members
// files of the config's persistent tiers: the operator's word that its
// data is gone for good, so that the mount stops refusing.
func forgetTier(cfg *config.Config, name string, stdout io.Writer) error {
	if cfg.TierIndex(name) >= 0 {
		return fmt.Errorf("%s: init --forget: tier %q is in the config; only a tier removed from it can be forgotten", cfg.Source, name)
	}
	found := false
	for i, ct := range cfg.Tiers {
		if !ct.Kind.Persistent() {
			continue
		}
		t, err := tiers.Open(tierSpec(cfg, i), i)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Source, err)
		}
		ms, err := t.ReadMembers()
		kept := slices.DeleteFunc(slices.Clone(ms), func(m tiers.Member) bool { return m.Name == name })
		if err == nil && len(kept) < len(ms) {
			found = true
			err = t.WriteMembers(kept)
		}
		t.Close()
		if err != nil {
			return fmt.Errorf("%s: init --forget: %w", cfg.Source, err)
		}
	}
	if !found {
		return fmt.Errorf("%s: init --forget: no tier of the config remembers a tier %q", cfg.Source, name)
	}
	fmt.Fprintf(stdout, "tier %s forgotten: mounts no longer check it\n", name)
	return nil
}
