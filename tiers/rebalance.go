package tiers

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// RebalanceName is the file at each persistent tier's root that records
// the mount's tier lists and the older lists whose rebalance has not
// finished (package policy reads it). Like the members file it is this
// host's own on a shared tier (StateName): each host compares its own
// config with what it recorded.
const RebalanceName = ".tierfs-rebalance"

// maxRebalanceSize bounds the record read back.
const maxRebalanceSize = 1 << 20

// ReadRebalance returns this host's rebalance record at the tier root,
// nil when there is none. On a shared tier this host has not mounted
// yet it reads the unsuffixed record of the daemon that served the tier
// before it became shared, so that a rebalance pending then stays
// pending, as the members file does.
func (t *Tier) ReadRebalance() ([]byte, error) {
	b, err := t.readRebalance(t.StateName(RebalanceName))
	if b == nil && err == nil && t.Shared() {
		b, err = t.readRebalance(RebalanceName)
	}
	return b, err
}

// readRebalance reads record name, nil when there is none.
func (t *Tier) readRebalance(name string) ([]byte, error) {
	b, err := t.ReadFile(name, maxRebalanceSize)
	switch {
	case err == unix.ENOENT:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("tier %q: read %s: %w", t.Name, name, err)
	}
	return b, nil
}

// WriteRebalance replaces this host's rebalance record through a
// fsynced temporary renamed into place, so that a crash leaves the old
// record or the new one; renaming (if set) is called just before the
// rename.
func (t *Tier) WriteRebalance(b []byte, renaming func()) error {
	name := t.StateName(RebalanceName)
	if err := t.replaceFile(name, b, renaming); err != nil {
		return fmt.Errorf("tier %q: write %s: %w", t.Name, name, err)
	}
	return nil
}
