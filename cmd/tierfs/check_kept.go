package main

import (
	"fmt"

	"github.com/tierfs/tierfs/cluster"
	tfs "github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// Host liveness as check reports it.
const (
	hostLive    = "live"
	hostDead    = "dead"
	hostUnknown = "liveness unknown"
)

// hostLiveness says whether host's heartbeat on the lease tier is
// current, for the reports of its state.
func (c *checker) hostLiveness(host string) string {
	cl := c.cfg.Cluster
	if cl == nil || host == "" {
		return hostUnknown
	}
	i := c.cfg.LeaseTier()
	if i < 0 || c.tiers[i] == nil {
		return hostUnknown
	}
	dead, err := cluster.HostDead(c.tiers[i], host, cl.HostTimeout.Duration)
	switch {
	case err != nil:
		return hostUnknown
	case dead:
		return hostDead
	}
	return hostLive
}

// keptLinks reports every host's links kept for files replaced while
// open on shared tier t, naming the host and whether it is live. A live
// host's are in use (its mount removes each when the kernel forgets
// the file) and no problem. A dead host's keep files from being moved
// for nothing, since its descriptors died with it: --repair (no host
// is mounted then) or any live host's mover removes them.
func (c *checker) keptLinks(t *tiers.Tier) {
	if !t.Shared() {
		return
	}
	hs, _ := t.HostStates(tfs.KeptDir)
	for _, h := range hs {
		ents, _ := t.ReadDir(h.Name)
		if len(ents) == 0 || h.Host == "" {
			continue
		}
		state := c.hostLiveness(h.Host)
		what := fmt.Sprintf("%s:%s, %d links kept for files replaced while open, of host %s (%s)", t.Name, h.Name, len(ents), h.Host, state)
		switch {
		case c.repair:
			c.removeKept(t, h, what)
		case state == hostLive:
			fmt.Fprintln(c.w, "kept: "+what+" [in use: its mount removes each once the file is closed]")
		default:
			c.report("kept", what, false, "each keeps its file from being moved; tierfs check --repair, or the mover of any live host once the host is dead, removes them")
		}
	}
}

// removeKept removes the kept links h on t for a repair, which holds
// every tier exclusively: no host's daemon runs.
func (c *checker) removeKept(t *tiers.Tier, h tiers.HostState, what string) {
	var err error
	if t.Own(h) {
		ents, _ := t.ReadDir(h.Name)
		for _, e := range ents {
			if uerr := t.Unlink(h.Name + "/" + e.Name); uerr != nil && err == nil {
				err = uerr
			}
		}
	} else {
		_, err = tfs.RemoveKept(t, h)
	}
	if err != nil {
		c.report("kept", what, false, fmt.Sprintf("repair failed: %v", err))
		return
	}
	c.report("kept", what, true, "removed")
}
