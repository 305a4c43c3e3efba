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
// cache.
type seqWorkload struct{}

func (seqWorkload) Name() string      { return "seq" }
func (seqWorkload) Metrics() []string { return []string{"seq-write", "seq-read"} }

const seqBlock = 1 << 20

func (seqWorkload) Run(ctx context.Context, env *Env) ([]Sample, error) {
	path := filepath.Join(env.Dir, "seq.dat")
	size := env.Sizes.SeqBytes
	buf := make([]byte, seqBlock)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	mib := float64(size) / (1 << 20)

	start := time.Now()
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	for off := int64(0); off < size; off += seqBlock {
		if ctx.Err() != nil {
			unix.Close(fd)
			return nil, ctx.Err()
		}
		if _, err := unix.Write(fd, buf[:min(seqBlock, size-off)]); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("seq-write: %w", err)
		}
	}
	if err := unix.Fsync(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seq-write fsync: %w", err)
	}
	if err := unix.Close(fd); err != nil {
		return nil, err
	}
	write := perSecond(mib, time.Since(start))

	if err := dropCaches(1); err != nil {
		return nil, err
	}
	start = time.Now()
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var total int64
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("seq-read: %w", err)
		}
		if n == 0 {
			break
		}
		total += int64(n)
	}
	unix.Close(fd)
	read := perSecond(mib, time.Since(start))
	if total != size {
		return nil, fmt.Errorf("seq-read: read %d bytes, want %d", total, size)
	}
	if err := os.Remove(path); err != nil {
		return nil, err
	}
	return []Sample{{"seq-write", "MiB/s", write}, {"seq-read", "MiB/s", read}}, nil
}
