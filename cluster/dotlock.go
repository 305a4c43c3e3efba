package cluster

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dotlock is a held per-user lock file.
type dotlock struct {
	name string
	ino  uint64
	at   time.Time // before the create (monotonic)
}

// errLockBusy means the dotlock is held, fresh, by holder.
type errLockBusy struct{ holder string }

func (e errLockBusy) Error() string { return "dotlock held by " + e.holder }

// lock takes k's dotlock with O_EXCL, breaking a stale one. A fresh
// lock of another makes it fail with errLockBusy.
func (l *Leases) lock(k key) (*dotlock, error) {
	name := k.lock()
	for range 3 {
		at := time.Now()
		fd, err := l.t.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644, nil)
		switch {
		case err == nil:
			return l.fillLock(fd, name, at)
		case errors.Is(err, unix.ENOENT):
			err = l.mkdirs(path.Dir(name))
		case errors.Is(err, unix.EEXIST):
			err = l.breakStale(k, name)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errLockBusy{"others (the lock keeps changing)"}
}

// fillLock records the holder in a lock just created as fd.
func (l *Leases) fillLock(fd int, name string, at time.Time) (*dotlock, error) {
	f := os.NewFile(uintptr(fd), name)
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	if err == nil {
		l.crashAt("lock-created") // an empty lock is stale by its mtime all the same
		_, err = fmt.Fprintf(f, "%s %d %d\n", l.o.Host, os.Getpid(), at.UnixNano())
	}
	if err = errors.Join(err, f.Close()); err != nil {
		l.t.Unlink(name) // fresh and ours: nobody may have broken it yet
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return &dotlock{name: name, ino: st.Ino, at: at}, nil
}

// breakStale removes the lock name if it is stale, and returns
// errLockBusy if it is fresh. It never removes a fresh lock: the lock
// is renamed aside and removed only if it is the stale file looked at
// (same inode and mtime); a fresh one moved by mistake (another breaker
// removed the stale one and a new lock was made in between) is linked
// back. nil means: try the create again.
func (l *Leases) breakStale(k key, name string) error {
	fi, err := l.readFile(name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	holder := lockHolder(fi.data)
	if !l.stale(fi.mtime) {
		return errLockBusy{holder}
	}
	aside := l.tmpName("broken")
	if err := l.t.Rename(name, aside, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // another breaker was first
		}
		return fmt.Errorf("set aside stale %s: %w", name, err)
	}
	l.crashAt("break-renamed")
	var st unix.Stat_t
	if err := l.t.Lstat(aside, &st); err != nil {
		return fmt.Errorf("stat %s: %w", aside, err)
	}
	if st.Ino != fi.ino || time.Unix(st.Mtim.Unix()) != fi.mtime {
		return l.putBack(aside, name)
	}
	l.stats.brokenLocks.Add(1)
	l.log.Warn("broke a stale cluster dotlock", "user", k.String(), "holder", holder,
		"age", time.Since(fi.mtime).Round(time.Millisecond))
	return l.t.Unlink(aside)
}

// putBack returns a lock set aside by mistake to its name. If a new lock
// took the name meanwhile, the moved one's holder finds its lock gone
// before it commits and backs off.
func (l *Leases) putBack(aside, name string) error {
	fi, _ := l.readFile(aside)
	if err := l.t.Link(aside, name); err != nil {
		l.log.Warn("could not put back a fresh dotlock set aside by mistake; its holder will back off", "lock", name, "error", err)
	}
	if err := l.t.Unlink(aside); err != nil {
		return fmt.Errorf("remove %s: %w", aside, err)
	}
	return errLockBusy{lockHolder(fi.data)}
}

// lockHolder names the host in a dotlock's content.
func lockHolder(data string) string {
	if f := strings.Fields(data); len(f) > 0 {
		return f[0]
	}
	return "unknown (empty lock)"
}

// ownLock checks that d is still held: its file is still its own, and
// it is young enough that no other host may count it stale.
func (l *Leases) ownLock(d *dotlock) error {
	if age := time.Since(d.at); age >= l.o.HostTimeout/2 {
		return fmt.Errorf("dotlock %s held %s, too long to trust: %w", d.name, age.Round(time.Millisecond), errLockLost)
	}
	var st unix.Stat_t
	if err := l.t.Lstat(d.name, &st); err != nil {
		return fmt.Errorf("dotlock %s: %w (%w)", d.name, errLockLost, err)
	}
	if st.Ino != d.ino {
		return fmt.Errorf("dotlock %s was replaced: %w", d.name, errLockLost)
	}
	return nil
}

// errLockLost means a dotlock was broken while held (its holder stalled
// for longer than HostTimeout/2).
var errLockLost = errors.New("dotlock lost")

// unlock removes d. While young, nobody may have broken it, so a plain
// unlink removes only it; an old one is set aside and checked first,
// as a breaker does.
func (l *Leases) unlock(d *dotlock) error {
	if l.ownLock(d) == nil {
		if err := l.t.Unlink(d.name); err != nil {
			return fmt.Errorf("remove %s: %w", d.name, err)
		}
		return nil
	}
	aside := l.tmpName("unlock")
	if err := l.t.Rename(d.name, aside, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // broken: it is gone already
		}
		return fmt.Errorf("set aside %s: %w", d.name, err)
	}
	var st unix.Stat_t
	if err := l.t.Lstat(aside, &st); err == nil && st.Ino != d.ino {
		l.putBack(aside, d.name)
		return nil
	}
	return l.t.Unlink(aside)
}
