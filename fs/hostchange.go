package fs

import (
	"fmt"
	"strings"
	"syscall"
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
func (r *Root) hostchange(u *userLease, prev string) syscall.Errno {
	r.log.Info("cluster: another host served the user since this host did; dropping this host's state of the user",
		"hash", u.key.hash, "user", u.key.user, "previous", prev)
	r.dropUserCaches(u)
	go r.dropUserKernel(u)
	for _, t := range r.tiers {
		if t.Kind != tiers.KindTmpfs {
			continue
		}
		for _, g := range r.leases.dirs {
			dir, ok := expandUserDir(g, u.key)
			if !ok {
				continue
			}
			if err := r.dropTmpfs(t, dir); err != nil {
				r.leases.counts.dropErrors.Add(1)
				r.log.Error("cluster: cannot remove this host's state of the user; its requests fail with EIO",
					"tier", t.Name, "dir", dir, "err", err)
				return syscall.EIO
			}
		}
	}
	return 0
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
	var st unix.Stat_t
	if err := t.Lstat(dir, &st); missing(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := t.Mkdir(droppedDir, 0o700, nil); err != nil && err != unix.EEXIST {
		return fmt.Errorf("create %s: %w", droppedDir, err)
	}
	aside := fmt.Sprintf("%s/%d.%d", droppedDir, time.Now().UnixNano(), r.leases.seq.Add(1))
	r.crashAt("hostchange-before-aside", "dir", dir)
	if err := t.Rename(dir, aside, 0); err != nil {
		return fmt.Errorf("set %s aside: %w", dir, err)
	}
	r.crashAt("hostchange-after-aside", "dir", dir)
	go func() {
		if err := removeTree(t, aside); err != nil {
			r.log.Warn("cluster: cannot remove a user's set-aside state; the next mount does", "tier", t.Name, "path", aside, "err", err)
		}
	}()
	return nil
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
