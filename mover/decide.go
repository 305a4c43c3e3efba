package mover

import (
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/dovecot"
	"github.com/tierfs/tierfs/policy"
)

// Skip reasons, as reports and metrics name them.
const (
	SkipOpen       = "open"        // the file has an open handle
	SkipChanged    = "changed"     // written while it was copied
	SkipHardLinked = "hard-linked" // its names changed since the scan
	// SkipLinkedPartial: a hard-linked file some of whose names the scan
	// did not find wanting to move: names under tierfs's own directories,
	// and names whose rule keeps them where they are (found without a stat).
	SkipLinkedPartial  = "hard-linked: a name stays or is outside the scan"
	SkipLinkedDisagree = "hard-linked: names disagree" // its names' rules want different tiers
	SkipNotFile        = "not-a-file"                  // replaced by something else since the scan
	SkipMoving         = "moving"                      // another move of it is in progress
	SkipDuplicate      = "duplicate"                   // a copy exists on another tier: tierfs check
	SkipQuiet          = "user-active"                 // the user's tree changed within the quiet period
	SkipGone           = "gone"                        // removed since the scan
	SkipNotTarget      = "not-target"                  // a reload made a new target tier: it needs a remount
	SkipNoSpace        = "no-space"                    // the move would leave its destination below min_free
	// SkipHomeBelowTarget: a misplaced file waits while its rule's tier
	// is below target_free (it would be demoted again to make room).
	SkipHomeBelowTarget = "home-below-target"
)

// file is one regular file found on a tier by the scan.
type file struct {
	path    string // inside the mount
	tier    int    // where it is
	st      *unix.Stat_t
	ino     uint64 // its backing inode number, from the dirent
	spilled bool   // placement spilled it here, its rule's tier being short (fs records it)
}

// decision says where a file should go and why.
type decision struct {
	dst    int // -1: stays
	demote bool
	room   bool // demoted early, to make room (set by the scan)
	rule   int
	to     int // the rule's demote tier for this file's bucket; -1: none
	caps   policy.Captures
	skip   string // set when the file should move but may not
	// ret: a spilled file, young, goes home; settled: a spilled file
	// old enough to be demoted stays, and its record goes.
	ret, settled bool
}

// decide places f by the current policy: a file the aging rule selects
// goes to the rule's demote tier; a file already there stays (it is a
// demoted file), unless placement spilled it there and it is still too
// young to be demoted: that one is misplaced; any other file not on its
// rule's tier is misplaced and goes back to it. stat returns the file's
// stat, made on demand so that names that cannot qualify (only_seen)
// cost no stat.
func (pol *Policy) decide(f file, now time.Time, isTmpfs func(int) bool, stat func() (*unix.Stat_t, error)) decision {
	ri, caps := pol.Placement.Match(f.path)
	r := pol.Placement.Rule(ri)
	home, to := r.Home(caps), r.Demote(caps)
	a := pol.Aging[ri]
	d := decision{dst: -1, rule: ri, to: to, caps: caps}
	switch {
	case to >= 0 && f.tier == to && f.spilled && f.tier != home:
		if a.qualifies(f.path, now, stat) {
			d.settled = true
			return d
		}
		d.dst, d.ret = home, true
	case to >= 0 && f.tier == to:
		return d
	case to >= 0 && a.qualifies(f.path, now, stat):
		d.dst, d.demote = to, true
	case f.tier != home:
		d.dst = home
	default:
		return d
	}
	if isTmpfs(d.dst) && dovecot.MustSurvive(f.path) {
		// A rule sends a file Dovecot needs after a reboot to tmpfs:
		// it stays where it is (tierfs check moves it off tmpfs).
		d.dst, d.demote, d.ret = -1, false, false
	}
	return d
}

// qualifies reports whether the aging rule selects file p.
func (a Aging) qualifies(p string, now time.Time, stat func() (*unix.Stat_t, error)) bool {
	if a.OnlySeen {
		if !dovecot.IsMaildirMessage(p) {
			return false
		}
		m, _ := dovecot.ParseMaildirName(path.Base(p))
		if !m.Seen() || now.Sub(m.Delivered) < a.After {
			return false
		}
		if a.MinSize == 0 {
			return true
		}
		if m.Size >= 0 {
			return m.Size >= a.MinSize
		}
	}
	st, err := stat()
	if err != nil {
		return false
	}
	if st.Size < a.MinSize {
		return false
	}
	if a.OnlySeen {
		return true
	}
	mtime := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	return now.Sub(mtime) >= a.After
}
