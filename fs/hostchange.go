package fs

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// droppedDir holds, at a tmpfs tier's root, a user's per-host state
// set aside for removal: a rename there takes it out of sight at once
// and atomically, and the mount removes whatever a crash left.
const droppedDir = ".tierfs-dropped"

// hostchange drops this host's state of a user that another host
// (prev) served since this host last did, before the request that took
// the lease is answered: the user's directories on the tmpfs tiers
// (the mailbox list index, volatile locks: per host, so stale now) and
// every cached entry beneath the user's directories, since the shared
// files changed behind this host's back. Called with u.mu held, from a
// FUSE handler: the kernel's entries are dropped by a goroutine (they
// are none already, unless the lease was lost rather than released).
func (r *Root) hostchange(u *userLease, prev string) error {
	r.log.Info("cluster: another host served the user since this host did; dropping this host's state of the user",
		"hash", u.key.hash, "user", u.key.user, "previous", prev)
	r.dropUserCaches(u)
	go r.dropUserKernel(u)
	for _, t := range r.tiers {
		if t.Kind != tiers.KindTmpfs {
			continue
		}
		for _, dir := range r.leases.namedDirs(u.key) {
			if err := r.dropTmpfs(t, dir); err != nil {
				r.leases.counts.dropErrors.Add(1)
				return fmt.Errorf("tier %q: remove this host's state of user %s: %w", t.Name, u.key.user, err)
			}
		}
	}
	return nil
}

// namedDirs are k's per-user directories that the globs name
// (expandUserDir).
func (s *leaseSet) namedDirs(k userKey) []string {
	var dirs []string
	for _, g := range s.dirs {
		if dir, ok := expandUserDir(g, k); ok {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// expandUserDir is the per-user directory g names for k; ok is false
// when g has segments other than literals, {hash} and {user} (such a
// directory cannot be named, only found by a walk).
func expandUserDir(g *policy.Glob, k userKey) (string, bool) {
	segs := strings.Split(g.String(), "/")
	for i, s := range segs {
		switch {
		case s == "{hash}" && k.hash != "_":
			segs[i] = k.hash
		case s == "{user}":
			segs[i] = k.user
		case strings.ContainsAny(s, "*?[{"):
			return "", false
		}
	}
	return strings.Join(segs, "/"), true
}

// dropTmpfs removes directory dir from tmpfs tier t, crash-safely: it
// is renamed beneath droppedDir, then removed in the background. A
// crash leaves at most a name beneath droppedDir, which the next mount
// removes.
func (r *Root) dropTmpfs(t *tiers.Tier, dir string) error {
	aside, err := r.setAside(t, dir)
	if err != nil || aside == "" {
		return err
	}
	go func() {
		if err := removeTree(t, aside); err != nil {
			r.log.Warn("cluster: cannot remove a user's set-aside state; the next mount does", "tier", t.Name, "path", aside, "err", err)
		}
	}()
	return nil
}

// setAside renames dir on t beneath droppedDir and returns its new
// name ("" when there is no dir).
func (r *Root) setAside(t *tiers.Tier, dir string) (string, error) {
	var st unix.Stat_t
	if err := t.Lstat(dir, &st); missing(err) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := t.Mkdir(droppedDir, 0o700, nil); err != nil && err != unix.EEXIST {
		return "", fmt.Errorf("create %s: %w", droppedDir, err)
	}
	aside := fmt.Sprintf("%s/%d.%d", droppedDir, time.Now().UnixNano(), r.leases.seq.Add(1))
	r.crashAt("hostchange-before-aside", "dir", dir)
	if err := t.Rename(dir, aside, 0); err != nil {
		return "", fmt.Errorf("set %s aside: %w", dir, err)
	}
	r.crashAt("hostchange-after-aside", "dir", dir)
	return aside, nil
}

// acquiringDir holds, at a tmpfs tier's root, a record per user whose
// lease this host is taking: hostchange has not dropped the user's
// state yet (see userLease.acquire).
const acquiringDir = ".tierfs-acquiring"

func acquiringName(k userKey) string { return acquiringDir + "/" + k.hash + "." + k.user }

// markAcquiring records on every tmpfs tier that k's lease is being
// taken.
func (r *Root) markAcquiring(k userKey) error {
	for _, t := range r.tiers {
		if t.Kind != tiers.KindTmpfs {
			continue
		}
		if err := t.Mkdir(acquiringDir, 0o700, nil); err != nil && err != unix.EEXIST {
			return fmt.Errorf("tier %q: create %s: %w", t.Name, acquiringDir, err)
		}
		fd, err := t.Open(acquiringName(k), unix.O_WRONLY|unix.O_CREAT, 0o600, nil)
		if err != nil {
			return fmt.Errorf("tier %q: record the acquisition of user %s: %w", t.Name, k.user, err)
		}
		unix.Close(fd)
	}
	r.crashAt("lease-marked", "user", k.user)
	return nil
}

// unmarkAcquiring removes k's records: its state is settled.
func (r *Root) unmarkAcquiring(k userKey) {
	for _, t := range r.tiers {
		if t.Kind != tiers.KindTmpfs {
			continue
		}
		if err := t.Unlink(acquiringName(k)); err != nil && !missing(err) {
			r.log.Warn("cluster: cannot remove an acquisition record; the next mount drops the user's state", "tier", t.Name, "user", k.user, "err", err)
		}
	}
}

// finishAcquiring drops, at mount, the state of every user whose
// acquisition a crash interrupted: another host may have served the
// user before this one took the lease.
func (r *Root) finishAcquiring(t *tiers.Tier) error {
	ents, err := t.ReadDir(acquiringDir)
	if missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tier %q: read %s: %w", t.Name, acquiringDir, err)
	}
	for _, d := range ents {
		hash, user, ok := strings.Cut(d.Name, ".")
		if !ok {
			continue
		}
		for _, dir := range r.leases.namedDirs(userKey{hash, user}) {
			if _, err := r.setAside(t, dir); err != nil {
				return fmt.Errorf("tier %q: %w", t.Name, err)
			}
		}
		r.log.Info("cluster: dropped the state of a user whose lease a crash interrupted taking", "tier", t.Name, "user", user)
		if err := t.Unlink(acquiringDir + "/" + d.Name); err != nil {
			return fmt.Errorf("tier %q: %w", t.Name, err)
		}
	}
	return nil
}

// settleTmpfs settles, on tmpfs tier t at mount, what a crash left of
// hostchanges. The acquisition records stay for a mount in a cluster
// (tierfs check --repair knows no leases).
func (r *Root) settleTmpfs(t *tiers.Tier) error {
	if t.Kind != tiers.KindTmpfs {
		return nil
	}
	if r.leases != nil {
		if err := r.finishAcquiring(t); err != nil {
			return err
		}
	}
	return clearDropped(t)
}

// clearDropped removes what hostchanges set aside on tmpfs tier t and
// a crash kept from being removed.
func clearDropped(t *tiers.Tier) error {
	if err := removeTree(t, droppedDir); err != nil && !missing(err) {
		return fmt.Errorf("tier %q: remove %s: %w", t.Name, droppedDir, err)
	}
	return nil
}

// removeTree removes rel and everything beneath it on t.
func removeTree(t *tiers.Tier, rel string) error {
	err := t.Unlink(rel)
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	ents, err := t.ReadDir(rel)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if err := removeTree(t, rel+"/"+d.Name); err != nil && !missing(err) {
			return err
		}
	}
	return t.Rmdir(rel)
}
