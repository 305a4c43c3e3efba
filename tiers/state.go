package tiers

import (
	"slices"
	"strings"
)

// StateName returns the name at the tier root under which this daemon
// keeps its private state called base (MovingDir, MembersName, the fs
// journal, ...): base itself on a tier one daemon owns, base + "." +
// Host on a shared tier, so that one host's mount, recovery or repair
// never touches another host's state in flight. A tier that becomes
// shared keeps its old, unsuffixed state under base (see HostStates).
func (t *Tier) StateName(base string) string {
	if !t.Shared() {
		return base
	}
	return base + "." + t.Host
}

// MovingName is this daemon's directory of copies in progress.
func (t *Tier) MovingName() string { return t.StateName(MovingDir) }

// HostState is one host's state called base at a tier root.
type HostState struct {
	// Host owns it: "" for the unsuffixed name (a daemon that did not
	// run in a cluster), else the host's name in the cluster.
	Host string
	Name string // the entry at the tier root
}

// Own says whether hs is this daemon's state on t (what StateName names).
func (t *Tier) Own(hs HostState) bool { return hs.Host == t.Host }

// HostStates lists every host's state called base at the tier root,
// this daemon's first, then by host name. A tier whose root cannot be
// read lists none, with the error.
func (t *Tier) HostStates(base string) ([]HostState, error) {
	ents, err := t.ReadDir("")
	if err != nil {
		return nil, err
	}
	var out []HostState
	for _, e := range ents {
		if e.Name == base {
			out = append(out, HostState{Name: e.Name})
		} else if h, ok := strings.CutPrefix(e.Name, base+"."); ok && h != "" {
			out = append(out, HostState{Host: h, Name: e.Name})
		}
	}
	slices.SortFunc(out, func(a, b HostState) int {
		if t.Own(a) != t.Own(b) {
			if t.Own(a) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Host, b.Host)
	})
	return out, nil
}
