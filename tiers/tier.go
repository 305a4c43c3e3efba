// Package tiers owns the backing directories of a tierfs mount. A Tier
// holds an open descriptor of its root and performs every operation with
// *at system calls resolved beneath that root, so that neither "..",
// absolute symlinks nor magic links can escape it, and so that an
// unmounted or replaced tier directory is noticed instead of written to.
package tiers

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Kinds of tier. A tmpfs tier is volatile and initialised at mount; the
// others are persistent and must carry a marker written by "tierfs init".
const (
	KindTmpfs = "tmpfs"
	KindLocal = "local"
	KindNFS   = "nfs"
)

// Spec describes a tier to open.
type Spec struct {
	Name string
	Path string // absolute
	Kind string // KindTmpfs, KindLocal or KindNFS
	UUID string // if set, the marker must carry this UUID
	// MinFree and TargetFree are the free space below which the tier
	// takes no new files, and below which the mover makes room on it,
	// when it is opened; SetReserves changes them while it is open.
	MinFree, TargetFree Reserve
	// Host is this host's name in the cluster when the tier is shared by
	// several hosts' daemons ([cluster] and shared = true), "" otherwise.
	// A shared tier is locked shared, and each daemon keeps its own
	// state there under its host name.
	Host string
}

// Shared reports whether several hosts' daemons use the tier at once.
func (s Spec) Shared() bool { return s.Host != "" }

// Tier is one open backing directory.
type Tier struct {
	Spec
	Index int

	root    int // O_PATH descriptor of the tier root
	dirs    dirCache
	rootDev uint64
	rootIno uint64
	// btrfsFS is the UUID of the btrfs filesystem holding the root, nil
	// when it is not btrfs (SameFilesystem). Read once at Open: the root
	// descriptor pins the filesystem.
	btrfsFS *[16]byte

	marker Marker // as Open read it (persistent tiers)
	// markerErr is the last marker re-check's failure, kept between the
	// rounds that re-read it. Only the probe touches it, and a tier's
	// probes never overlap (Monitor).
	markerErr error

	down    atomic.Bool
	lastErr atomic.Pointer[string]

	noXattrat atomic.Bool // the kernel lacks getxattrat(2)

	space    space                      // the last free-space sample (SampleSpace)
	reserves atomic.Pointer[[2]Reserve] // min_free, target_free (Reserves)
	clock    clock                      // the last clock skew measured (MeasureClockSkew)

	lock     *os.File // the held lock file (see Lock), nil if not locked
	hostLock *os.File // on a shared tier, the held lock of this host

	// Observe, if set before the tier is used, is called after every
	// backend call with its name, duration and error.
	Observe func(op string, d time.Duration, err error)
}

// Persistent reports whether the tier keeps its data across a reboot.
func (t *Tier) Persistent() bool { return t.Kind != KindTmpfs }

// Open checks a tier and opens its root. A persistent tier must carry
// its own marker; a tmpfs tier must really be tmpfs and is created (but
// never marked) if missing.
func Open(spec Spec, index int) (*Tier, error) {
	if spec.Kind == KindTmpfs {
		if err := initTmpfs(spec); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Open(spec.Path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tier %q: open %s: %w", spec.Name, spec.Path, err)
	}
	t := &Tier{Spec: spec, Index: index, root: fd}
	t.SetReserves(spec.MinFree, spec.TargetFree)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tier %q: stat %s: %w", spec.Name, spec.Path, err)
	}
	t.rootDev, t.rootIno = st.Dev, st.Ino
	uuid, isBtrfs, err := btrfsUUID(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tier %q: %s: %w", spec.Name, spec.Path, err)
	}
	if isBtrfs {
		t.btrfsFS = &uuid
	}
	if _, err := t.SampleSpace(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tier %q: statfs %s: %w", spec.Name, spec.Path, err)
	}
	if t.Persistent() {
		if err := t.checkMarker(); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return t, nil
}

// Close releases the root descriptor, the cached directories and the
// tier's lock.
func (t *Tier) Close() error {
	t.dirs.drop()
	for _, f := range []**os.File{&t.hostLock, &t.lock} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	return unix.Close(t.root)
}

// RootFd returns the descriptor of the tier root, for callers that walk
// the tier themselves (check, mover). It stays owned by the Tier.
func (t *Tier) RootFd() int { return t.root }

func initTmpfs(spec Spec) error {
	if err := mkdirAll(spec.Path, 0o755); err != nil {
		return fmt.Errorf("tier %q: create %s: %w", spec.Name, spec.Path, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(spec.Path, &sfs); err != nil {
		return fmt.Errorf("tier %q: statfs %s: %w", spec.Name, spec.Path, err)
	}
	if sfs.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("tier %q: kind is tmpfs but %s is not on tmpfs (filesystem magic %#x); mount a tmpfs there or change the kind", spec.Name, spec.Path, sfs.Type)
	}
	return nil
}

// observe reports one backend call to the tier's observer (metrics).
func (t *Tier) observe(op string, start time.Time, err *error) {
	if t.Observe != nil {
		t.Observe(op, time.Since(start), *err)
	}
}
