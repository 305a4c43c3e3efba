package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// seqWorkload writes one large file sequentially with 1 MiB writes and an
// fsync, then reads it back with 1 MiB reads after dropping the page
// cache, SeqPasses times; it reports the median pass. On tmpfs a 256 MiB
// read takes some 30 ms, so one pass is at the mercy of a single
// scheduling hiccup on a noisy machine.
type seqWorkload struct{}

func (seqWorkload) Name() string      { return "seq" }
func (seqWorkload) Metrics() []string { return []string{"seq-write", "seq-read"} }

const seqBlock = 1 << 20

func (seqWorkload) Run(ctx context.Context, env *Env) ([]Sample, error) {
	path := filepath.Join(env.Dir, "seq.dat")
	buf := make([]byte, seqBlock)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var writes, reads []float64
	for range max(env.Sizes.SeqPasses, 1) {
		w, r, err := seqPass(ctx, path, env.Sizes.SeqBytes, buf)
		if err != nil {
			return nil, err
		}
		writes, reads = append(writes, w), append(reads, r)
	}
	return []Sample{{"seq-write", "MiB/s", Median(writes)}, {"seq-read", "MiB/s", Median(reads)}}, nil
}

// seqPass writes path (size bytes, then fsync), reads it back after
// dropping the page cache, checks the size read and removes it; it
// returns both rates in MiB/s.
func seqPass(ctx context.Context, path string, size int64, buf []byte) (write, read float64, err error) {
	mib := float64(size) / (1 << 20)
	start := time.Now()
	if err := seqWrite(ctx, path, size, buf); err != nil {
		return 0, 0, err
	}
	write = perSecond(mib, time.Since(start))

	if err := dropCaches(1); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	total, err := seqRead(path, buf)
	if err != nil {
		return 0, 0, err
	}
	read = perSecond(mib, time.Since(start))
	if total != size {
		return 0, 0, fmt.Errorf("seq-read: read %d bytes, want %d", total, size)
	}
	return write, read, os.Remove(path)
}

// seqWrite writes the file and closes it; close is part of the timed
// write and its error counts (on an nfs tier it reports write errors).
func seqWrite(ctx context.Context, path string, size int64, buf []byte) error {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	if err := writeAll(ctx, fd, size, buf); err != nil {
		unix.Close(fd)
		return err
	}
	return unix.Close(fd)
}

func writeAll(ctx context.Context, fd int, size int64, buf []byte) error {
	for off := int64(0); off < size; off += seqBlock {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := unix.Write(fd, buf[:min(seqBlock, size-off)]); err != nil {
			return fmt.Errorf("seq-write: %w", err)
		}
	}
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("seq-write fsync: %w", err)
	}
	return nil
}

func seqRead(path string, buf []byte) (int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var total int64
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return total, fmt.Errorf("seq-read: %w", err)
		}
		if n == 0 {
			return total, nil
		}
		total += int64(n)
	}
}
