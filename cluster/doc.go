// Package cluster is the lease protocol of cluster mode: several hosts,
// each with its own tierfs mount, share the persistent tiers, and a
// per-user lease on the lease tier makes sure that at most one host
// serves a user at a time, even when the Dovecot director errs.
//
// # Files
//
// Everything lives beneath the lease tier's root descriptor, under Dir:
//
//	hosts/HOST          heartbeat "HOST SEQ UNIXNANO\n" (or "... gone\n")
//	leases/HASH/USER    lease "HOLDER STATE LAST\n", STATE held or free,
//	                    LAST the host before HOLDER ("-" for none)
//	locks/HASH/USER     dotlock "HOST PID UNIXNANO\n", made with O_EXCL
//	breaks/HASH/USER/   tokens of the breakers of a stale dotlock
//	tmp/HOST/           this host's temporaries and set-aside locks
//
// HASH is the {hash} capture ("_" when the user glob has none). Locks
// and temporaries live in their own directories, so no user name can
// collide with them (the design's LEASE.lock beside the lease could:
// a user "x.lock"). Only NFS-safe operations are used: O_EXCL create,
// rename, link, unlink, fsync. No flock or fcntl lock is part of the
// protocol, since NFS lock recovery after a client crash is exactly
// what must not be relied on.
//
// # Heartbeats and validity
//
// Run rewrites the heartbeat every HostTimeout/6 (temporary, fsync,
// rename). Another host counts this one dead when the heartbeat's time
// is older than HostTimeout plus the clock tolerance (1 s by default;
// hosts must run NTP, as Dovecot on NFS already requires), or when it
// says "gone" (Close). This host counts its own leases valid only until
// HostTimeout - HostTimeout/6 after the start of its last heartbeat that
// completed in time: Valid. When the lease tier is down or slow, the
// heartbeat fails, Valid stops advancing and passes, and every Acquire
// fails (ErrLapsed) without writing anything: the host fails closed
// before any other host may take its users. A heartbeat that completes
// after Valid has passed starts a new Epoch: leases acquired in an
// earlier epoch are void (another host may have taken them meanwhile)
// and must be acquired again.
//
// Each heartbeat also measures the lease tier's clock against this
// host's (the mtime of its temporary): beyond the tolerance it is
// logged, and beyond (HostTimeout/6 + tolerance)/2 the heartbeat is not
// written, since two hosts each that far off the tier could disagree on
// who is alive by more than the protocol's margin. The host then fails
// closed as above, and the others take its users once its last
// heartbeat is stale.
//
// Before each heartbeat the tier's root is checked to still be the tier
// (tiers.Tier.Attached), and the heartbeat file is checked to still
// carry this daemon's last SEQ: a second daemon writing under the same
// host name makes this one stop renewing (and log it) rather than both
// believing they are the host.
//
// # Acquire and Release
//
// Acquire takes the user's dotlock, reads the lease and, unless another
// live host holds it, writes "HOST held PREV" and drops the dotlock. It
// returns the previous holder when that was another host: the
// hostchange signal. While another live host holds the user it retries
// with backoff for up to LeaseWait, then fails with a *HeldError
// (errors.Is ErrHeld) naming the holder. A lease held by a dead host is
// taken over (counted as stolen). Release writes "HOST free HOST" under
// the dotlock if this host still holds the lease; it waits for the
// dotlock up to HostTimeout plus the tolerance, since releasing is a
// worker's job and no dotlock outlives that.
//
// A dotlock older than HostTimeout plus the tolerance (by its mtime) is
// stale: its creator died or stalled for longer than any Acquire may
// take. Breakers of one stale lock are serialised by an O_EXCL token
// named after the lock's inode and mtime (breaks/HASH/USER/INO.MTIME):
// the token's maker checks that the name still is that lock, renames it
// aside, checks again that the file it moved is that lock, and only then
// unlinks it (a fresh file moved by mistake is linked back). A lock's
// owner removes it only while it is younger than HostTimeout/2, so
// nobody can have broken it; an older one it leaves for the breakers. A
// fresh lock is never removed. A lock holder checks, before it commits
// a lease, that its lock is still its own and younger than
// HostTimeout/2, and backs off otherwise; it checks again after the
// commit.
//
// # Crash safety
//
// The lease and the heartbeat are replaced by rename of a fsynced
// temporary, so a crash at any step leaves the old content or the new,
// never none or a torn one. A crash while holding a dotlock delays the
// user's next Acquire on any host by at most HostTimeout plus the
// tolerance. A host's leftover temporaries are removed when it opens
// again. Open waits until a heartbeat of this host left by a crashed
// run has gone stale (at most HostTimeout plus the tolerance) and
// refuses when it keeps changing: another daemon runs with this name.
//
// # Dead hosts' unfinished changes
//
// Dead reports whether a host counts as dead (heartbeat stale, gone or
// missing; HostDead for a reader outside the cluster, tierfs check).
// The filesystem uses it when it takes a user's lease: it finishes the
// user's intents in a dead host's journal, but only while holding that
// host's flock on its lock file (tiers.Tier.LockHostOf). That flock is
// not part of the lease protocol: a host that is mounting again holds
// its own before it replays, so the flock only keeps two replays of one
// journal apart, and a busy one makes the acquisition fail (closed).
//
// # What a reader makes of what it finds
//
//   - no lease file: the user is free and was never held (PREV "");
//   - an unreadable or malformed lease (which rename never produces: an
//     operator's or a disk's doing): held by an unknown host. Acquire
//     refuses with ErrCorrupt and logs the file; nothing overwrites it.
//     An operator who knows no host serves the user removes it;
//   - no heartbeat of the holder: its lease counts as live until the
//     lease file itself is HostTimeout plus the tolerance old (a client
//     may briefly miss a file another client just made);
//   - an unreadable heartbeat: the host counts as live (fail closed)
//     until an operator removes it or the host writes it again.
//
// # Limits
//
// The lease is as good as the assumptions: clocks within the tolerance,
// the lease tier mounted with close-to-open consistency (never nocto),
// and no single rename of the lease delayed past HostTimeout/2 after
// the holder's last check. NFS offers no compare-and-swap, so a holder
// stalled exactly between that check and its rename, while its lock is
// broken and another host commits, can overwrite the other's lease; the
// check after the commit then makes it give the lease up (and log it),
// so one host still serves the user, but the file names the other until
// the user is next taken, and that host's next Acquire misses the
// hostchange. Likewise two breakers can both take over the token of a
// breaker that died holding it; the put-back then keeps a fresh lock
// unless a third host takes the free name in between, and the owner's
// checks catch that. A token whose lock is gone when its breaker dies
// stays behind (a few bytes; nothing reads it again).
package cluster
