package config

import (
	"fmt"
	"time"

	"github.com/tierfs/tierfs/dovecot"
	"github.com/tierfs/tierfs/policy"
)

// Cluster is the [cluster] table: several hosts, each with its own
// tierfs mount, share the persistent tiers (NFS exports) while a Dovecot
// director or proxy keeps each user on one host. tierfs adds what that
// arrangement lacks: a per-user lease, so that two hosts never serve
// one user at once even when the director errs, and the dropping of a
// host's per-host state of a user (the tmpfs tiers: locks, the mailbox
// list index) once another host has served that user since.
type Cluster struct {
	// Host names this host in leases, heartbeats and per-host state on
	// the shared tiers. It must be unique within the cluster and stable
	// across restarts.
	Host string `toml:"host"`
	// HostTimeout is how long a host may go without refreshing its
	// heartbeat on the lease tier before the other hosts take it for
	// dead and take over the users it held. A host that cannot refresh
	// it for that long stops serving those users itself.
	HostTimeout Duration `toml:"host_timeout"`
	// ReleaseAfter is how long a user's lease stays held after the last
	// request for the user's files reached tierfs with none of them
	// open; then it is released and another host may serve the user.
	ReleaseAfter Duration `toml:"release_after"`
	// LeaseWait is how long a request waits for another host's lease on
	// the user before it fails with EIO.
	LeaseWait Duration `toml:"lease_wait"`
	// Users are the per-user directories, as globs whose last segment
	// is {user}; everything beneath one belongs to that user's lease.
	Users []string `toml:"users"`
	// SharedTimeout is how long a host's kernel may keep what it learnt
	// of a name outside every per-user directory (a public folder, the
	// directories above the users): no lease tells a host when another
	// one changed such a name, so a change shows after at most this, as
	// with an NFS client's attribute cache.
	SharedTimeout Duration `toml:"shared_timeout"`

	// UserDirs are Users compiled (by Parse).
	UserDirs []*policy.Glob `toml:"-"`
}

// Cluster defaults, for keys the [cluster] table leaves out.
const (
	DefaultHostTimeout   = 30 * time.Second
	DefaultReleaseAfter  = 60 * time.Second
	DefaultLeaseWait     = 5 * time.Second
	DefaultSharedTimeout = time.Second
)

// MinHostTimeout is the shortest host_timeout: a host refreshes its
// heartbeat six times per timeout, and a refresh on a slow NFS server
// can take a good part of a second.
const MinHostTimeout = 3 * time.Second

// DefaultUsers returns the preset's per-user directories,
// "<subtree>/{hash}/{user}" for each subtree.
func DefaultUsers() []string {
	var users []string
	for _, s := range dovecot.Subtrees() {
		users = append(users, s.MountPath())
	}
	return users
}

// setClusterDefaults fills in the keys [cluster] leaves out; defined
// reports whether the file set a key of the table.
func (c *Config) setClusterDefaults(defined func(key string) bool) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	if !defined("host_timeout") {
		cl.HostTimeout = Duration{DefaultHostTimeout}
	}
	if !defined("release_after") {
		cl.ReleaseAfter = Duration{DefaultReleaseAfter}
	}
	if !defined("lease_wait") {
		cl.LeaseWait = Duration{DefaultLeaseWait}
	}
	if !defined("users") {
		cl.Users = DefaultUsers()
	}
	if !defined("shared_timeout") {
		cl.SharedTimeout = Duration{DefaultSharedTimeout}
	}
}

// validateCluster checks [cluster] and the tiers' shared keys: a shared
// tier needs a cluster, and in a cluster every persistent tier is
// shared (a user's mail and indexes must be where every host finds
// them), while tmpfs tiers stay per host.
func (c *Config) validateCluster(fail failFunc) {
	cl := c.Cluster
	for i, t := range c.Tiers {
		f := fmt.Sprintf("tier[%d].shared", i+1)
		switch {
		case t.Shared && t.Kind == KindTmpfs:
			fail(f, "a tmpfs tier is per host and cannot be shared")
		case t.Shared && cl == nil:
			fail(f, "a shared tier needs a [cluster] table naming this host")
		case !t.Shared && cl != nil && t.Kind.Persistent():
			fail(f, "false, but in a cluster every persistent tier must be shared (every host must find a user's mail and indexes); only tmpfs tiers are per host")
		}
	}
	if cl == nil {
		return
	}
	switch {
	case cl.Host == "":
		fail("cluster.host", "missing (this host's name in the cluster, e.g. \"mx1\")")
	case len(cl.Host) > 64 || !validName(cl.Host):
		fail("cluster.host", "%q: use at most 64 letters, digits, '-', '_' and '.'", cl.Host)
	}
	if c.LeaseTier() < 0 && len(c.Tiers) > 0 {
		fail("cluster", "no shared tier to keep the leases on (mark the NFS tiers shared = true)")
	}
	if d := cl.HostTimeout.Duration; d < MinHostTimeout {
		fail("cluster.host_timeout", "%q is below the minimum of %s", cl.HostTimeout, FormatDuration(MinHostTimeout))
	}
	if cl.ReleaseAfter.Duration < 0 {
		fail("cluster.release_after", "%q %w", cl.ReleaseAfter, errNegative)
	}
	if cl.LeaseWait.Duration < 0 {
		fail("cluster.lease_wait", "%q %w", cl.LeaseWait, errNegative)
	}
	if cl.SharedTimeout.Duration < 0 {
		fail("cluster.shared_timeout", "%q %w", cl.SharedTimeout, errNegative)
	}
	if len(cl.Users) == 0 {
		fail("cluster.users", "empty: name the per-user directories, e.g. [\"mail/{hash}/{user}\"]")
	}
	cl.UserDirs = cl.UserDirs[:0]
	for i, u := range cl.Users {
		f := fmt.Sprintf("cluster.users[%d]", i+1)
		g, err := policy.CompileGlob(u)
		switch {
		case err != nil:
			fail(f, "%w", err)
		case !g.EndsWithUser():
			fail(f, "%q: the last segment must be {user} and no segment may be **", u)
		default:
			cl.UserDirs = append(cl.UserDirs, g)
		}
	}
}

// LeaseTier is the index of the tier that holds the cluster's leases
// and heartbeats: the first shared tier, -1 if none.
func (c *Config) LeaseTier() int {
	for i, t := range c.Tiers {
		if t.Shared {
			return i
		}
	}
	return -1
}
