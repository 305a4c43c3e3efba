package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// microWorkload is the metadata micro-suite: the syscalls a mail server
// makes most, each timed on its own.
type microWorkload struct{}

func (microWorkload) Name() string { return "micro" }

func (microWorkload) Metrics() []string {
	return []string{"stat-warm", "stat-warm-paired", "stat-cold", "stat-miss", "xattr-miss", "open-close", "create-unlink",
		"create-4k-fsync", "rename", "append-fsync", "readdir"}
}

// Run creates Files files, then measures each operation over them.
func (w microWorkload) Run(ctx context.Context, env *Env) ([]Sample, error) {
	n := env.Sizes.Files
	d := env.Dir
	name := func(prefix string, i int) string { return filepath.Join(d, fmt.Sprintf("%s%06d", prefix, i)) }
	// The stat loops use names built beforehand: formatting one costs
	// about as much as a cached stat, and would dilute the difference.
	files, missing := make([]string, n), make([]string, n)
	for i := range n {
		files[i], missing[i] = name("f", i), name("m", i)
	}
	payload := make([]byte, 4096)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	// Untimed setup; rate is used for its cancellation checks.
	if _, err := rate(ctx, n, func(i int) error { return os.WriteFile(name("f", i), payload[:100], 0o644) }); err != nil {
		return nil, err
	}
	var out []Sample
	add := func(metric, unit string, v float64) { out = append(out, Sample{metric, unit, v}) }
	var st unix.Stat_t

	// stat of existing files with warm caches: one untimed pass, then
	// the median of statPasses timed ones. A pass takes a few
	// milliseconds, so one preemption on a busy machine would otherwise
	// decide the result.
	statAll := func(i int) error { return unix.Lstat(files[i], &st) }
	if _, err := rate(ctx, n, statAll); err != nil {
		return nil, err
	}
	v, err := medianRate(ctx, statPasses, n, statAll)
	if err != nil {
		return nil, fmt.Errorf("stat-warm: %w", err)
	}
	add("stat-warm", "ops/s", v)

	// The same, as a ratio to a reference tree on the run's tmpfs timed
	// in alternating passes. On a busy VM the rate of a cached stat
	// drifts by a third within minutes, so stat-warm of two targets
	// measured minutes apart compares the machine's moments as much as
	// the filesystems; a ratio taken within one window does not.
	if v, err = statPaired(ctx, env, n, statAll); err != nil {
		return nil, fmt.Errorf("stat-warm-paired: %w", err)
	}
	add("stat-warm-paired", "x tmpfs", v)

	// stat after the kernel dropped its dentries and inodes: every name
	// has to be looked up in the filesystem again.
	if err := dropCaches(2); err != nil {
		return nil, err
	}
	if v, err = rate(ctx, n, statAll); err != nil {
		return nil, fmt.Errorf("stat-cold: %w", err)
	}
	add("stat-cold", "ops/s", v)

	// stat of names that do not exist (Dovecot probes lock and cache
	// files): one untimed pass, then the median of statPasses.
	statMiss := func(i int) error {
		if err := unix.Lstat(missing[i], &st); !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("stat of missing name: %v, want ENOENT", err)
		}
		return nil
	}
	if _, err := rate(ctx, n, statMiss); err != nil {
		return nil, err
	}
	if v, err = medianRate(ctx, statPasses, n, statMiss); err != nil {
		return nil, fmt.Errorf("stat-miss: %w", err)
	}
	add("stat-miss", "ops/s", v)

	// getxattr of an attribute no file has: the kernel caches no xattrs,
	// so through FUSE every call is one round trip whose backend work is
	// a single failed getxattr. Its rate is the floor a FUSE request
	// costs on the machine, the same measure for every target.
	var xv [64]byte
	xattrMiss := func(i int) error {
		_, err := unix.Lgetxattr(files[i], "user.tierfs-bench.none", xv[:])
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil
		}
		return fmt.Errorf("getxattr of a missing attribute: %v, want ENODATA or EOPNOTSUPP", err)
	}
	if v, err = medianRate(ctx, statPasses, n, xattrMiss); err != nil {
		return nil, fmt.Errorf("xattr-miss: %w", err)
	}
	add("xattr-miss", "ops/s", v)

	if v, err = rate(ctx, n, func(i int) error {
		fd, err := unix.Open(name("f", i), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}); err != nil {
		return nil, fmt.Errorf("open-close: %w", err)
	}
	add("open-close", "ops/s", v)

	if v, err = rate(ctx, n, func(i int) error {
		p := name("c", i)
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		if err := unix.Close(fd); err != nil {
			return err
		}
		return unix.Unlink(p)
	}); err != nil {
		return nil, fmt.Errorf("create-unlink: %w", err)
	}
	add("create-unlink", "ops/s", v)

	if v, err = rate(ctx, n, func(i int) error {
		return writeFileSync(name("w", i), payload, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY)
	}); err != nil {
		return nil, fmt.Errorf("create-4k-fsync: %w", err)
	}
	add("create-4k-fsync", "ops/s", v)

	if v, err = rate(ctx, n, func(i int) error { return unix.Rename(name("w", i), name("r", i)) }); err != nil {
		return nil, fmt.Errorf("rename: %w", err)
	}
	add("rename", "ops/s", v)

	// O_APPEND + fsync on one file, as Dovecot appends to its
	// transaction logs.
	logPath := filepath.Join(d, "append.log")
	if v, err = rate(ctx, n, func(i int) error {
		return writeFileSync(logPath, payload[:200], unix.O_CREAT|unix.O_APPEND|unix.O_WRONLY)
	}); err != nil {
		return nil, fmt.Errorf("append-fsync: %w", err)
	}
	add("append-fsync", "ops/s", v)
	if fi, err := os.Stat(logPath); err != nil || fi.Size() != int64(200*n) {
		return nil, fmt.Errorf("append-fsync: %s has size %v (%v), want %d", logPath, sizeOf(fi), err, 200*n)
	}

	v, err = readdirRate(ctx, filepath.Join(d, "big"), env.Sizes.ReaddirEntries)
	if err != nil {
		return nil, fmt.Errorf("readdir: %w", err)
	}
	add("readdir", "entries/s", v)
	return out, nil
}

// statPaired builds a reference copy of the workload directory's first n
// files on the run's tmpfs, at the same depth below the workspace as the
// target's, and returns the median over statPasses pairs of the
// target's warm-stat rate over the reference's, the two passes of a pair
// run back to back (in alternating order).
func statPaired(ctx context.Context, env *Env, n int, statTarget func(i int) error) (float64, error) {
	rel, err := filepath.Rel(env.Root, env.Dir)
	if err != nil {
		return 0, err
	}
	base := filepath.Join(env.ws.Tmpfs, "statref")
	defer os.RemoveAll(base)
	dir := filepath.Join(base, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = filepath.Join(dir, fmt.Sprintf("f%06d", i))
		if err := os.WriteFile(names[i], []byte("x"), 0o644); err != nil {
			return 0, err
		}
	}
	var st unix.Stat_t
	statRef := func(i int) error { return unix.Lstat(names[i], &st) }
	if _, err := rate(ctx, n, statRef); err != nil { // warm it as the target is
		return 0, err
	}
	stats := [2]func(i int) error{statRef, statTarget}
	ratios := make([]float64, statPasses)
	for p := range ratios {
		var rates [2]float64 // reference, target
		for k := range 2 {
			i := (p + k) % 2 // the reference first in even pairs
			if rates[i], err = rate(ctx, n, stats[i]); err != nil {
				return 0, err
			}
		}
		ratios[p] = rates[1] / rates[0]
	}
	return Median(ratios), nil
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// writeFileSync opens path with flags, writes data, fsyncs and closes.
func writeFileSync(path string, data []byte, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	if _, err := unix.Write(fd, data); err != nil {
		unix.Close(fd)
		return err
	}
	if err := unix.Fsync(fd); err != nil {
		unix.Close(fd)
		return err
	}
	return unix.Close(fd)
}

// readdirRate fills dir with n empty files (untimed) and times three
// full listings of the names, like a maildir sync scanning cur/.
func readdirRate(ctx context.Context, dir string, n int) (float64, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return 0, err
	}
	// Untimed setup; rate is used for its cancellation checks.
	if _, err := rate(ctx, n, func(i int) error {
		fd, err := unix.Open(filepath.Join(dir, fmt.Sprintf("%d.M%dP1.host,S=4096:2,S", 1700000000+i, i)),
			unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}); err != nil {
		return 0, err
	}
	const passes = 3
	listings, err := rate(ctx, passes, func(int) error {
		f, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return err
		}
		if len(names) != n {
			return fmt.Errorf("listed %d names, want %d", len(names), n)
		}
		return nil
	})
	return listings * float64(n), err
}
