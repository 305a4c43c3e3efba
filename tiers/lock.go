package tiers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockName is the file at a tier root that a serving daemon holds an
// exclusive flock on. Mount replays the journal and clears the
// temporaries of interrupted moves, which is only safe when no other
// daemon is using them; the lock proves that. It is under the reserved
// ".tierfs" prefix, so the mount, the mover and check never show it.
const LockName = ".tierfs-lock"

// ErrLocked means another process holds a tier's lock: a tierfs daemon
// serves the tier.
var ErrLocked = errors.New("in use by another tierfs process")

// LockExclusive takes the tier's lock for a repair: exclusive even on a
// shared tier, so that no daemon of any host serves it meanwhile (every
// host's daemon holds LockName shared). A refusal names the hosts whose
// daemons hold it, from their ".tierfs-lock.HOST" files.
func (t *Tier) LockExclusive() error {
	if !t.Shared() {
		return t.Lock()
	}
	if t.lock != nil {
		return nil
	}
	err := t.lockRoot(unix.LOCK_EX)
	if errors.Is(err, ErrLocked) {
		if hs := t.lockHolders(); hs != "" {
			return fmt.Errorf("tier %q: %s is %w: mounted by %s", t.Name, t.Path, ErrLocked, hs)
		}
	}
	return err
}

// lockHolders names the hosts whose daemons hold their host lock on the
// tier, with what each wrote in it: "host a (pid 12 on host mx1), ...".
// A host lock file stays after its daemon exits; only a held one counts.
func (t *Tier) lockHolders() string {
	hs, _ := t.HostStates(LockName)
	var out []string
	for _, h := range hs {
		if h.Host == "" {
			continue
		}
		fd, err := unix.Openat(t.root, h.Name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		f := os.NewFile(uintptr(fd), h.Name)
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK {
			out = append(out, "host "+h.Host+readHolder(f))
		}
		f.Close() // drops the lock if this probe took it
	}
	return strings.Join(out, ", ")
}

// Lock takes the tier's lock without waiting and records this process
// in the lock file, so a refused caller can name the holder. The lock
// lasts until Close (or the process's exit: the kernel drops it, so a
// crash never leaves a tier locked).
func (t *Tier) Lock() error {
	if t.lock != nil {
		return nil
	}
	if !t.Shared() {
		return t.lockRoot(unix.LOCK_EX)
	}
	if err := t.lockRoot(unix.LOCK_SH); err != nil { // the other hosts of the cluster hold it too
		return err
	}
	hf, err := t.lockHost()
	if err != nil {
		t.lock.Close()
		t.lock = nil
		return err
	}
	t.hostLock = hf
	return nil
}

// lockRoot takes LockName with flock operation how (LOCK_EX records
// this process in it) and keeps it in t.lock.
func (t *Tier) lockRoot(how int) error {
	path := filepath.Join(t.Path, LockName)
	// O_RDWR: on NFS flock is a whole-file POSIX write lock, which needs
	// a descriptor open for writing.
	fd, err := unix.Openat(t.root, LockName, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("tier %q: open lock %s: %w", t.Name, path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Flock(fd, how|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("tier %q: %s is %w%s", t.Name, t.Path, ErrLocked, holder)
		}
		return fmt.Errorf("tier %q: lock %s: %w", t.Name, path, err)
	}
	if how == unix.LOCK_EX {
		if err := writeHolder(f); err != nil {
			f.Close()
			return fmt.Errorf("tier %q: write lock %s: %w", t.Name, path, err)
		}
	}
	t.lock = f
	return nil
}

// lockHost takes this host's exclusive lock on a shared tier,
// ".tierfs-lock.HOST": one daemon per host, as LockName is one daemon per
// tier elsewhere, since the host's state on the tier is that daemon's.
func (t *Tier) lockHost() (*os.File, error) {
	name := t.StateName(LockName)
	path := filepath.Join(t.Path, name)
	fd, err := unix.Openat(t.root, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tier %q: open lock %s: %w", t.Name, path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := flockBriefly(fd, f); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("tier %q: %s is %w as host %q%s", t.Name, t.Path, ErrLocked, t.Host, holder)
		}
		return nil, fmt.Errorf("tier %q: lock %s: %w", t.Name, path, err)
	}
	if err := writeHolder(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("tier %q: write lock %s: %w", t.Name, path, err)
	}
	return f, nil
}

// writeHolder replaces the lock file's content with "pid PID on host
// HOST".
func writeHolder(f *os.File) error {
	host, _ := os.Hostname()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+" on host "+host+"\n"), 0)
	return err
}

// readHolder describes the holder recorded in the lock file, "" if it
// has not written itself there (yet).
func readHolder(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// hostLockWait bounds how long a mount waits for its host lock while
// another host holds it to finish this host's intents (LockHostOf),
// which takes as long as a replay of one user's intents.
const hostLockWait = 10 * time.Second

// settlingBy starts what LockHostOf writes in the lock it holds.
const settlingBy = "settling by "

// flockBriefly takes an exclusive flock on fd (of file f), retrying for
// up to hostLockWait while another host settles this host's intents: a
// daemon of this host holding it is refused at once.
func flockBriefly(fd int, f *os.File) error {
	deadline := time.Now().Add(hostLockWait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EWOULDBLOCK || time.Now().After(deadline) {
			return err
		}
		if h := readHolder(f); h != "" && !strings.HasPrefix(h, " ("+settlingBy) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LockHostOf takes host's exclusive lock ".tierfs-lock.HOST" on shared
// tier t without waiting, so that another host may touch host's state
// (its journal, its kept links) while host is dead: a daemon of host
// holds that lock from before its mount replays until it exits, so
// holding it excludes host's own remount. ErrLocked: host's daemon is
// running (or mounting). unlock drops the lock.
func (t *Tier) LockHostOf(host string) (unlock func(), err error) {
	if !t.Shared() || host == "" || host == t.Host {
		return nil, fmt.Errorf("tier %q: lock of host %q: not another host's on a shared tier", t.Name, host)
	}
	name := LockName + "." + host
	fd, err := unix.Openat(t.root, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tier %q: open lock %s: %w", t.Name, name, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("tier %q: host %q: %w", t.Name, host, ErrLocked)
		}
		return nil, fmt.Errorf("tier %q: lock %s: %w", t.Name, name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	self, _ := os.Hostname()
	if err := f.Truncate(0); err == nil { // tells host's own mount to wait for it
		f.WriteAt([]byte(settlingBy+"host "+t.Host+" (pid "+strconv.Itoa(os.Getpid())+" on host "+self+")\n"), 0)
	}
	return func() { f.Close() }, nil
}
