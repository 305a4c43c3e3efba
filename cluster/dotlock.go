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
	for range 5 {
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
// errLockBusy if it is fresh; nil means: try the create again. It never
// removes a fresh lock. Breakers of one stale lock are serialised by a
// token named after that lock's identity (inode and mtime), made with
// O_EXCL: the one that makes it checks that the name still is that lock
// and moves it aside; the others find the token (wait) or, once the
// lock is gone, find another file at the name (retry). Only a token
// holder, and never the lock's stalled owner (see unlock), removes the
// lock, so the name cannot change under it between its check and its
// rename.
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
	l.crashAt("break-read")
	tok, err := l.breakToken(k, fi, holder)
	if err != nil || tok == "" {
		return err
	}
	defer l.dropToken(tok)
	if cur, err := l.stat(name); err != nil || !sameFile(cur, fi) {
		return nil // broken by another breaker already
	}
	l.crashAt("break-checked")
	if err := l.removeIfSame(name, fi); err != nil {
		return err
	}
	l.stats.brokenLocks.Add(1)
	l.log.Warn("broke a stale cluster dotlock", "user", k.String(), "holder", holder,
		"age", time.Since(fi.mtime).Round(time.Millisecond))
	return nil
}

// breakToken makes the token for breaking the lock fi of k. It returns
// "" and nil when another breaker's token was stale and is now removed
// (try again), and errLockBusy while another breaker holds a fresh one.
func (l *Leases) breakToken(k key, fi fileInfo, holder string) (string, error) {
	dir := breaksDir + "/" + k.hash + "/" + k.user
	tok := fmt.Sprintf("%s/%d.%d", dir, fi.ino, fi.mtime.UnixNano())
	_, err := l.writeNew(tok, l.o.Host+"\n")
	if errors.Is(err, unix.ENOENT) {
		if err := l.mkdirs(breaksDir+"/"+k.hash, dir); err != nil {
			return "", err
		}
		_, err = l.writeNew(tok, l.o.Host+"\n")
	}
	if err == nil {
		l.crashAt("break-token")
		return tok, nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return "", err
	}
	other, rerr := l.readFile(tok)
	if rerr != nil || !l.stale(other.mtime) {
		return "", errLockBusy{holder} // being broken: retry soon
	}
	// Its breaker died while breaking; at worst two breakers of the
	// token race here, and the put-back below keeps a fresh one.
	return "", l.removeIfSame(tok, other)
}

// dropToken removes a token once the lock is broken. Its directory
// stays: removing it would race with the next breaker's create.
func (l *Leases) dropToken(tok string) {
	if err := l.t.Unlink(tok); err != nil {
		l.log.Warn("cluster break token not removed", "token", tok, "error", err)
	}
}

// removeIfSame removes name if it is still the file fi: it is renamed
// aside, then removed if it is fi (same inode and mtime), else linked
// back (errLockBusy): a breaker never removes a file made after it
// looked.
func (l *Leases) removeIfSame(name string, fi fileInfo) error {
	aside := l.tmpName("broken")
	if err := l.t.Rename(name, aside, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("set aside stale %s: %w", name, err)
	}
	l.crashAt("break-renamed")
	cur, err := l.stat(aside)
	if err != nil {
		return fmt.Errorf("stat %s: %w", aside, err)
	}
	if !sameFile(cur, fi) {
		return l.putBack(aside, name)
	}
	return l.t.Unlink(aside)
}

// stat returns the inode and mtime of rel. It opens the file: on NFS an
// open revalidates the name with the server (close-to-open), where a
// stat may answer from a cache that still has another file there.
func (l *Leases) stat(rel string) (fileInfo, error) { return l.readFile(rel) }

func sameFile(a, b fileInfo) bool { return a.ino == b.ino && a.mtime.Equal(b.mtime) }

// putBack returns a file set aside by mistake to its name. If a new
// lock took the name meanwhile, the moved one's holder finds its lock
// gone before it commits and backs off.
func (l *Leases) putBack(aside, name string) error {
	fi, _ := l.readFile(aside)
	if err := l.t.Link(aside, name); err != nil {
		l.log.Warn("could not put back a fresh file set aside by mistake; its holder will back off", "file", name, "error", err)
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
	return "unknown (a lock being made, or whose maker died)"
}

// ownLock checks that d is still held: its file is still its own, and
// it is young enough that no other host may count it stale.
func (l *Leases) ownLock(d *dotlock) error {
	if age := time.Since(d.at); age >= l.o.HostTimeout/2 {
		return fmt.Errorf("dotlock %s held %s, too long to trust: %w", d.name, age.Round(time.Millisecond), errLockLost)
	}
	cur, err := l.stat(d.name)
	if err != nil {
		return fmt.Errorf("dotlock %s: %w (%w)", d.name, errLockLost, err)
	}
	if cur.ino != d.ino {
		return fmt.Errorf("dotlock %s was replaced: %w", d.name, errLockLost)
	}
	return nil
}

// errLockLost means a dotlock was broken while held (its holder stalled
// for longer than HostTimeout/2).
var errLockLost = errors.New("dotlock lost")

// unlock removes d while it is young: nobody may have broken it, so the
// unlink removes only it. An old one is left for a breaker to remove
// once it is stale: removing it by name could remove another's lock.
func (l *Leases) unlock(d *dotlock) error {
	if err := l.ownLock(d); err != nil {
		return fmt.Errorf("left for breakers: %w", err)
	}
	if err := l.t.Unlink(d.name); err != nil {
		return fmt.Errorf("remove %s: %w", d.name, err)
	}
	return nil
}
