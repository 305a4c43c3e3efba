package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/tierfs/tierfs/control"
)

// runReload asks the daemon of each mount point to reread its config,
// like SIGHUP, but waits for the answer and reports a refusal.
func runReload(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("reload")
	mps, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(mps) == 0 {
		return usageError{"reload: want at least one MOUNTPOINT"}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, mp := range mps {
		abs, err := filepath.Abs(mp)
		if err != nil {
			return err
		}
		res, err := control.NewClient(control.SocketPath(control.RunDir(), abs)).Reload(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", abs, err)
		}
		fmt.Fprintf(stdout, "%s: reloaded %s (%d rules)\n", abs, res.Config, res.Rules)
	}
	return nil
}
