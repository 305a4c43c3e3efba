package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Target is one filesystem the workloads run on.
type Target interface {
	// Name is the short label in tables, JSON and the chart.
	Name() string
	// Mount prepares a fresh, empty filesystem and returns its root.
	Mount(ctx context.Context) (root string, err error)
	// Unmount tears down what Mount set up. It is called even when
	// Mount failed halfway, and must then undo what was done.
	Unmount() error
}

// RequestCounter is implemented by targets whose daemon can say how many
// FUSE requests of each kind it has served since it was mounted.
type RequestCounter interface {
	RequestCounts(ctx context.Context) (map[string]uint64, error)
}

// freshDir removes dir and creates it again, empty.
func freshDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// nativeTarget is a plain directory on the workspace's tmpfs: the
// baseline every FUSE target is compared with.
type nativeTarget struct{ dir string }

func newNativeTarget(ws *Workspace) *nativeTarget {
	return &nativeTarget{dir: filepath.Join(ws.Tmpfs, "native")}
}

func (t *nativeTarget) Name() string { return "native" }

func (t *nativeTarget) Mount(ctx context.Context) (string, error) {
	return t.dir, freshDir(t.dir)
}

func (t *nativeTarget) Unmount() error { return os.RemoveAll(t.dir) }

// MergerfsOptions are the options an operator would use for a mail spool
// on one branch with mergerfs 2.33 (Debian 12): no page caching of
// mergerfs files (no mmap needed, no double caching), first-found create
// policy, newest getattr, allow_other for Dovecot's mail users and
// mergerfs's own inode calculation.
const MergerfsOptions = "allow_other,use_ino,cache.files=off,dropcacheonclose=false,category.create=ff,func.getattr=newest"

// mergerfsTarget is /usr/bin/mergerfs with one branch on the tmpfs.
type mergerfsTarget struct {
	ws     *Workspace
	opts   string
	branch string
	mnt    string
	d      *daemon
}

func newMergerfsTarget(ws *Workspace, opts string) *mergerfsTarget {
	return &mergerfsTarget{
		ws: ws, opts: opts,
		branch: filepath.Join(ws.Tmpfs, "mergerfs-branch"),
		mnt:    filepath.Join(ws.Dir, "mnt", "mergerfs"),
	}
}

func (t *mergerfsTarget) Name() string { return "mergerfs" }

func (t *mergerfsTarget) Mount(ctx context.Context) (string, error) {
	if err := freshDir(t.branch); err != nil {
		return "", err
	}
	if err := os.MkdirAll(t.mnt, 0o755); err != nil {
		return "", err
	}
	argv := []string{t.ws.Mergerfs, "-f", "-o", t.opts + ",fsname=mergerfs-bench", t.branch, t.mnt}
	d, err := startDaemon(ctx, "mergerfs", t.ws.logPath("mergerfs"), t.mnt, "fuse.mergerfs", argv)
	if err != nil {
		return "", err
	}
	t.d = d
	return t.mnt, nil
}

// dovecotMmapDisable: with cache.files=off mergerfs opens files with
// direct I/O, where mmap fails with ENODEV.
func (t *mergerfsTarget) dovecotMmapDisable() bool {
	return strings.Contains(t.opts, "cache.files=off") || !strings.Contains(t.opts, "cache.files=")
}

func (t *mergerfsTarget) Unmount() error {
	var err error
	if t.d != nil {
		err = t.d.stop()
		t.d = nil
	}
	if rmErr := os.RemoveAll(t.branch); err == nil {
		err = rmErr
	}
	return err
}

// errNotMounted is returned by counters of targets that are not mounted.
var errNotMounted = errors.New("target not mounted")

// errNoCounters is returned by a counter that has nothing to report
// (tierfs without -tierfs-metrics-url); the run skips it silently.
var errNoCounters = errors.New("no request counters configured")
