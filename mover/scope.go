package mover

import (
	"fmt"
	"slices"
)

// Scope is how much of the tree a pass in a cluster scanned. Every host
// runs a mover, but only the mover leader's scheduled passes walk the
// whole shared tree; another host's scan the users it holds, whose files
// the leader skips as another host's (see Mover.SetCluster).
type Scope struct {
	Whole  bool     `json:"whole"`
	Why    string   `json:"why,omitempty"`    // why the whole tree (WhyLeader, ...)
	Leader string   `json:"leader,omitempty"` // the mover leader ("" when unknown)
	Users  int      `json:"users,omitempty"`  // not whole: the users held here it scanned
	Dirs   []string `json:"-"`                // not whole: their per-user directories
}

// Why a pass in a cluster scanned the whole tree.
const (
	WhyLeader    = "leader"            // this host is the mover leader
	WhyAsked     = "asked for"         // tierfs migrate without --user or --scheduled
	WhyRebalance = "rebalance pending" // only a whole pass may clear the record
	WhyUnknown   = "leader unknown"    // the heartbeats could not be read
	WhyPatterns  = "per-user directories are patterns"
	WhyNoHolder  = "no lease holder"
)

func (s *Scope) String() string {
	switch {
	case s == nil:
		return ""
	case !s.Whole:
		return fmt.Sprintf("%d users held here (leader: %s)", s.Users, s.Leader)
	case s.Why == WhyLeader || s.Leader == "":
		return "whole tree (" + s.Why + ")"
	}
	return fmt.Sprintf("whole tree (%s; leader: %s)", s.Why, s.Leader)
}

// dirs are the directories a partial pass scans.
func (s *Scope) dirs() []string {
	if s == nil {
		return nil
	}
	return s.Dirs
}

// partial reports whether the pass scanned only some users' files.
func (s *Scope) partial() bool { return s != nil && !s.Whole }

// SetCluster makes the mover one of a cluster's: host is this host, and
// leader names the mover leader (cluster.Leases.Leader; on an error,
// with this host). Without it, every pass scans the whole tree as
// outside a cluster. Call it before Run.
func (m *Mover) SetCluster(host string, leader func() (string, error)) {
	m.host, m.leader = host, leader
}

// scope decides what a pass scans in a cluster: nil outside one and for
// a --user pass (which scans for that user as always).
func (m *Mover) scope(o Options, pol *Policy) *Scope {
	if m.leader == nil || o.User != "" {
		return nil
	}
	leader, err := m.leader()
	if err != nil {
		m.cfg.Logger.Warn("mover: cannot tell the mover leader; this pass scans the whole tree", "err", err)
		return &Scope{Whole: true, Why: WhyUnknown}
	}
	m.noteLeader(leader)
	sc := &Scope{Whole: true, Leader: leader}
	switch {
	case leader == m.host:
		sc.Why = WhyLeader
	case !o.Scheduled:
		sc.Why = WhyAsked
	case len(pol.Placement.Pending()) > 0:
		sc.Why = WhyRebalance
	default:
		m.heldScope(sc)
	}
	return sc
}

// heldScope narrows sc to the users this host holds, when the
// primitive can name their directories.
func (m *Mover) heldScope(sc *Scope) {
	h, ok := m.cfg.Move.(UserHolder)
	if !ok { // a primitive without leases: *fs.Root always has them
		sc.Why = WhyNoHolder
		return
	}
	users, dirs, ok := h.HeldUsers()
	if !ok {
		sc.Why = WhyPatterns
		return
	}
	sc.Whole, sc.Why, sc.Users, sc.Dirs = false, "", len(users), slices.Clip(dirs)
}

// noteLeader logs when this host becomes or stops being the mover
// leader, and which host leads when it first learns it.
func (m *Mover) noteLeader(leader string) {
	m.mu.Lock()
	prev := m.lastLeader
	m.lastLeader = leader
	m.mu.Unlock()
	switch {
	case leader == prev:
	case leader == m.host:
		m.cfg.Logger.Info("mover: this host is the mover leader now; its scheduled passes scan the whole tree", "host", m.host, "previous", prev)
	case prev == m.host:
		m.cfg.Logger.Info("mover: this host is no longer the mover leader; its scheduled passes scan only the users it holds", "leader", leader)
	default:
		m.cfg.Logger.Info("mover: another host is the mover leader; this host's scheduled passes scan only the users it holds", "leader", leader)
	}
}
