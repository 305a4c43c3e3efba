package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/control"
	"github.com/tierfs/tierfs/mover"
)

// defaultHold is how long tierfs hold holds the mover without --for.
const defaultHold = time.Hour

// holdArgs are the parsed arguments of "tierfs hold".
type holdArgs struct {
	hold       time.Duration // 0 with --release
	mountpoint string
}

func parseHoldArgs(args []string) (*holdArgs, error) {
	fset := newFlagSet("hold")
	forFlag := fset.String("for", "", "hold the mover for `DURATION` (default 1h, at most 7d)")
	release := fset.Bool("release", false, "end the hold now")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, usageError{"hold: want exactly one MOUNTPOINT"}
	}
	a := &holdArgs{hold: defaultHold}
	switch {
	case *release && *forFlag != "":
		return nil, usageError{"hold: --for and --release exclude each other"}
	case *release:
		a.hold = 0
	case *forFlag != "":
		d, err := config.ParseDuration(*forFlag)
		if err != nil || d <= 0 || d > mover.MaxHold {
			return nil, usageError{fmt.Sprintf("hold: --for: %q is not a duration in (0, %s] (e.g. 90m, 6h, 2d)", *forFlag, config.FormatDuration(mover.MaxHold))}
		}
		a.hold = d
	}
	if a.mountpoint, err = filepath.Abs(pos[0]); err != nil {
		return nil, err
	}
	return a, nil
}

// runHold holds the mover of a mount, for a backup or snapshot of its
// tiers, and returns once no pass runs; or, with --release, lets it go
// on. The hold ends by itself after --for, and with the daemon.
func runHold(ctx context.Context, args []string, stdout io.Writer) error {
	a, err := parseHoldArgs(args)
	if err != nil {
		return err
	}
	c := control.NewClient(control.SocketPath(control.RunDir(), a.mountpoint))
	var st mover.HoldState
	if a.hold == 0 {
		if err := c.Do(ctx, http.MethodDelete, "/hold", nil, &st); err != nil {
			return fmt.Errorf("hold %s: %w", a.mountpoint, err)
		}
		if st.Released {
			fmt.Fprintf(stdout, "%s: mover released\n", a.mountpoint)
		} else {
			fmt.Fprintf(stdout, "%s: mover was not held\n", a.mountpoint)
		}
		return nil
	}
	if err := c.Do(ctx, http.MethodPost, "/hold", mover.HoldRequest{For: a.hold}, &st); err != nil {
		return fmt.Errorf("hold %s: %w", a.mountpoint, err)
	}
	if st.HeldUntil == nil {
		return fmt.Errorf("hold %s: the daemon answered no hold", a.mountpoint)
	}
	fmt.Fprintf(stdout, "%s: mover held until %s, no pass running; end it with tierfs hold --release %s\n",
		a.mountpoint, st.HeldUntil.Local().Format(time.DateTime), a.mountpoint)
	return nil
}
