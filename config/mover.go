package config

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tierfs/tierfs/policy"
)

// Aging is the optional part of a rule that moves its files to another
// tier as they age (Dovecot's ALT storage, for every mailbox format).
// A rule without DemoteTo never demotes; the mover still moves its
// misplaced files back to the rule's tier.
type Aging struct {
	// DemoteAfter is the age, by mtime (for OnlySeen maildir files: by
	// the delivery time in the file name), after which a file moves.
	DemoteAfter Duration `toml:"demote_after,omitempty"`
	// DemoteTo names the tier demoted files go to, or a list the rule's
	// {hash} buckets spread over; they must be persistent.
	DemoteTo TierNames `toml:"demote_to,omitempty"`
	// OnlySeen demotes only maildir messages whose name carries the S
	// (seen) flag; files whose name is not a maildir message name stay.
	OnlySeen bool `toml:"only_seen,omitempty"`
	// MinSize keeps smaller files where they are.
	MinSize ByteSize `toml:"min_size,omitempty"`
	// Quiet holds back a user's files until nothing in the user's tree
	// (the rule's {hash}/{user} captures) changed for this long.
	Quiet Duration `toml:"quiet,omitempty"`
}

// Demotes reports whether the rule has an aging part.
func (a Aging) Demotes() bool { return len(a.DemoteTo) > 0 }

// Mover schedules and paces the mover that runs in the daemon.
type Mover struct {
	// Interval between scheduled passes; "0s" runs passes only on
	// demand (tierfs migrate).
	Interval Duration `toml:"interval"`
	// BytesPerSecond and FilesPerSecond cap the pace of moves; 0 is
	// unlimited.
	BytesPerSecond ByteSize `toml:"bytes_per_second,omitempty"`
	FilesPerSecond float64  `toml:"files_per_second,omitempty"`
}

// DefaultMoverInterval is the time between scheduled mover passes when
// [mover] interval is left out.
const DefaultMoverInterval = time.Hour

// MinMoverInterval is the shortest interval between scheduled passes;
// a shorter one would have the mover rescan the tiers without pause.
const MinMoverInterval = time.Second

// validateAging checks the aging part of every rule and the [mover]
// table. It runs after the tiers are validated.
func (c *Config) validateAging(fail failFunc) {
	for i, r := range c.Rules {
		f := fmt.Sprintf("rule[%d]", i+1)
		a := r.Aging
		if !a.Demotes() {
			if a.DemoteAfter.Duration != 0 || a.OnlySeen || a.MinSize != 0 || a.Quiet.Duration != 0 {
				fail(f+".demote_to", "missing: demote_after, only_seen, min_size and quiet need the tier to demote to")
			}
			continue
		}
		c.validateDemoteTo(fail, f, r)
		if a.DemoteAfter.Duration < 0 {
			fail(f+".demote_after", "%q %w", a.DemoteAfter, errNegative)
		}
		if a.Quiet.Duration < 0 {
			fail(f+".quiet", "%q %w", a.Quiet, errNegative)
		}
		if a.Quiet.Duration > 0 && !hasUserCapture(r.Match) {
			fail(f+".quiet", "needs a {user} capture in match (e.g. \"mail/{hash}/{user}/**\") to know whose tree must be quiet; match is %q", r.Match)
		}
	}
	switch iv := c.Mover.Interval.Duration; {
	case iv < 0:
		fail("mover.interval", "%q %w", c.Mover.Interval, errNegative)
	case iv > 0 && iv < MinMoverInterval:
		fail("mover.interval", "%q is below the minimum of %s (\"0s\" runs the mover only when asked, by tierfs migrate)", c.Mover.Interval, FormatDuration(MinMoverInterval))
	}
	switch fps := c.Mover.FilesPerSecond; {
	case math.IsNaN(fps) || math.IsInf(fps, 0):
		fail("mover.files_per_second", "%v is not a number of files per second (0 or absent: unlimited)", fps)
	case fps < 0:
		fail("mover.files_per_second", "%v %w", fps, errNegative)
	}
}

// validateDemoteTo checks each demote_to member: a persistent tier,
// never the rule's own tier for the same bucket.
func (c *Config) validateDemoteTo(fail failFunc, f string, r RuleSpec) {
	a := r.Aging
	c.validateList(fail, f, "demote_to", r.Match, a.DemoteTo)
	home, _ := c.spread(r.Tier)
	for m, name := range a.DemoteTo {
		fm := memberField(f+".demote_to", a.DemoteTo, m)
		ti := c.TierIndex(name)
		switch {
		case ti < 0:
			fail(fm, "%q is not a tier (have: %s)", name, c.tierNames())
		case !c.Tiers[ti].Kind.Persistent():
			fail(fm, "%q is a tmpfs tier; demoted files must survive a reboot", name)
		case home != nil:
			if b := sameBucket(home, ti, len(a.DemoteTo), m); b >= 0 {
				fail(fm, "%q is the rule's own tier%s", name, bucketNote(b, r.Tier.IsList() || a.DemoteTo.IsList()))
			}
		}
	}
}

// sameBucket returns the first bucket that member m of n demote_to
// members (tier ti) shares with home as the rule's tier, -1 if none.
func sameBucket(home policy.Spread, ti, n, m int) int {
	first, last := policy.BucketRange(m, n)
	for b := first; b <= last; b++ {
		if home[policy.Member(b, len(home))] == ti {
			return b
		}
	}
	return -1
}

func bucketNote(b int, list bool) string {
	if !list {
		return ""
	}
	return fmt.Sprintf(" for bucket %02x", b)
}

func (c *Config) tierNames() string {
	names := make([]string, len(c.Tiers))
	for i, t := range c.Tiers {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// hasUserCapture reports whether a rule glob captures {user}.
func hasUserCapture(match string) bool { return strings.Contains(match, "{user}") }
