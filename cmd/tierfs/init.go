package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/tiers"
)

// runInit writes the marker of every persistent tier. It is the only
// place markers are made: a mount never creates one, so an unmounted
// NFS directory is refused instead of filled.
func runInit(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("init")
	cfgPath := fset.String("config", "", "config `file` (default: the embedded Dovecot preset)")
	stateDir := fset.String("state-dir", defaultStateDir, "state `dir` of the embedded default (created if missing)")
	if _, err := parseInterspersed(fset, args); err != nil {
		return err
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
		m, err := tiers.WriteMarker(t.Path, t.Name)
		if err != nil {
			return fmt.Errorf("tier %q: %w", t.Name, err)
		}
		fmt.Fprintf(stdout, "tier %s: %s marked (uuid %s)\n", t.Name, t.Path, m.UUID)
	}
	return nil
}
