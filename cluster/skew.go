package cluster

import (
	"fmt"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// Every host compares other hosts' heartbeat stamps and the lease
// tier's mtimes with its own clock. Each heartbeat's temporary measures
// how far the lease tier's clock (the NFS server's) is from this host's:
// beyond the tolerance it is logged; beyond maxSkew the heartbeat is not
// written, so that this host stops using its leases and the others take
// them once its last heartbeat is stale, rather than two hosts whose
// clocks disagree by more than the protocol's margin both serving.

// maxSkew is the largest skew from the lease tier that a heartbeat
// accepts: two hosts each within it of the tier are within HostTimeout/6
// plus the tolerance of each other, the margin between a host ceasing
// to use its leases and another taking them.
func (l *Leases) maxSkew() time.Duration { return (l.o.HostTimeout/6 + l.tol) / 2 }

// checkSkew measures the tier's stamp mtime of a file created after
// start against this host's clock; it fails beyond maxSkew.
func (l *Leases) checkSkew(mtime, start time.Time) error {
	shift := time.Duration(l.shift.Load())
	skew := tiers.SkewOf(mtime, start.Add(shift), time.Now().Add(shift))
	warn := skew.Abs() > l.tol
	if warn != l.hb.skewWarned {
		l.hb.skewWarned = warn
		if warn {
			l.log.Warn("the lease tier's clock is off from this host's; sync the clocks (NTP)", "skew", skew, "tolerance", l.tol, "limit", l.maxSkew())
		} else {
			l.log.Info("the lease tier's clock agrees with this host's again", "skew", skew)
		}
	}
	if skew.Abs() > l.maxSkew() {
		return fmt.Errorf("the lease tier's clock is %s off this host's, beyond the %s the leases allow", skew.Round(time.Millisecond), l.maxSkew())
	}
	return nil
}
