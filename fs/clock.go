package fs

import (
	"context"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// Clock checks of nfs tiers. The mover ages mail by mtime, which the NFS
// server stamps with its own clock: a server whose clock is off makes
// mail look older or younger than it is (Dovecot's NFS guide requires
// synced clocks too). Mail stays safe, so a skew is reported, loudly,
// and never refused.
const clockInterval = 10 * time.Minute

// ClockWarnSkew is the skew beyond which a tier's clock is warned about
// (in the log and in tierfs status).
const ClockWarnSkew = time.Second

// watchClocks measures the skew of every nfs tier at once and then every
// clockInterval until ctx ends, each tier on a goroutine of its own so
// that a slow or hung server delays neither the mount nor the others.
func (r *Root) watchClocks(ctx context.Context) {
	for _, t := range r.tiers {
		if t.Kind == tiers.KindNFS {
			go r.watchClock(ctx, t)
		}
	}
}

func (r *Root) watchClock(ctx context.Context, t *tiers.Tier) {
	tick := time.NewTicker(clockInterval)
	defer tick.Stop()
	for {
		r.checkClock(t)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkClock measures t's skew once and logs it: a warning beyond
// ClockWarnSkew.
func (r *Root) checkClock(t *tiers.Tier) {
	s, err := t.MeasureClockSkew(func() { r.crashAt("clock-probe-created", "tier", t.Name) })
	switch {
	case err != nil:
		r.log.Warn("could not measure the clock skew of an nfs tier", "tier", t.Name, "err", err)
	case s.Skew.Abs() > ClockWarnSkew:
		r.log.Warn("the NFS server's clock is off from this host's: the mover ages mail by times the server stamps; sync both clocks (NTP)",
			"tier", t.Name, "skew_seconds", s.Skew.Seconds())
	default:
		r.log.Info("clock skew of an nfs tier", "tier", t.Name, "skew_seconds", s.Skew.Seconds())
	}
}
