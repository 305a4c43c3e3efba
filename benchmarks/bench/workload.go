package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Sample is one measured number. Every metric is a rate: higher is better.
type Sample struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
}

// Env is what a workload gets to run in.
type Env struct {
	Target string // target name
	Root   string // the mount root
	Dir    string // an empty directory for this workload inside Root
	Sizes  Sizes
	// MmapDisable tells Dovecot not to mmap its index files, for
	// targets where operators must set that (see mmapDisabler).
	MmapDisable bool
	ws          *Workspace
}

// mmapDisabler is implemented by targets on which Dovecot needs
// mmap_disable=yes: mergerfs with cache.files=off (direct I/O, mmap
// fails with ENODEV) and an NFS spool (Dovecot's NFS guide).
type mmapDisabler interface{ dovecotMmapDisable() bool }

func needsMmapDisable(t Target) bool {
	m, ok := t.(mmapDisabler)
	return ok && m.dovecotMmapDisable()
}

// Workload is one benchmark program.
type Workload interface {
	Name() string
	// Metrics lists the metric names Run reports, in display order.
	Metrics() []string
	Run(ctx context.Context, env *Env) ([]Sample, error)
}

// Sizes scale the workloads.
type Sizes struct {
	Files          int   // files per metadata micro-benchmark
	ReaddirEntries int   // entries in the readdir directory
	SeqBytes       int64 // sequential file size
	SeqPasses      int   // sequential write+read passes per round (the median is reported)
	MaildirMsgs    int   // messages delivered maildir-style
	MsgSize        int   // bytes per message
	PostmarkFiles  int   // PostMark "set number"
	PostmarkTx     int   // PostMark "set transactions"
	DovecotUsers   int
	DovecotMsgs    int // messages per user
	DovecotClients int // concurrent LMTP/IMAP sessions
}

// FullSizes are the sizes of a normal run.
func FullSizes() Sizes {
	return Sizes{
		Files: 2000, ReaddirEntries: 10000, SeqBytes: 256 << 20, SeqPasses: 5,
		MaildirMsgs: 1000, MsgSize: 4096,
		PostmarkFiles: 1000, PostmarkTx: 4000,
		DovecotUsers: 4, DovecotMsgs: 100, DovecotClients: 2,
	}
}

// QuickSizes finish a run of every target and workload in about two
// minutes on a 2-core machine.
func QuickSizes() Sizes {
	return Sizes{
		Files: 200, ReaddirEntries: 1000, SeqBytes: 32 << 20, SeqPasses: 1,
		MaildirMsgs: 150, MsgSize: 4096,
		PostmarkFiles: 100, PostmarkTx: 300,
		DovecotUsers: 2, DovecotMsgs: 30, DovecotClients: 2,
	}
}

// AllWorkloads returns every workload in run order.
func AllWorkloads() []Workload {
	return []Workload{microWorkload{}, seqWorkload{}, maildirWorkload{}, postmarkWorkload{}, dovecotWorkload{}}
}

// workDir is where a workload runs inside a mount. It lies in the
// preset's mail subtree, so on tierfs it lands on the mail tier — the
// slow one for tierfs-slowmail — and the same relative path is used on
// every target.
func workDir(root, workload string) string {
	return filepath.Join(root, "mail", "00", "bench", workload)
}

// rate runs f n times and returns calls per second.
func rate(ctx context.Context, n int, f func(i int) error) (float64, error) {
	start := time.Now()
	for i := range n {
		if i%64 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err := f(i); err != nil {
			return 0, err
		}
	}
	return perSecond(float64(n), time.Since(start)), nil
}

// statPasses is how many timed passes the cached-stat metrics take the
// median of.
const statPasses = 9

// medianRate runs passes passes of rate(ctx, n, f) and returns the
// median rate.
func medianRate(ctx context.Context, passes, n int, f func(i int) error) (float64, error) {
	rates := make([]float64, passes)
	for p := range rates {
		v, err := rate(ctx, n, f)
		if err != nil {
			return 0, err
		}
		rates[p] = v
	}
	return Median(rates), nil
}

func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		d = time.Nanosecond
	}
	return n / d.Seconds()
}

// dropCaches syncs and writes level to /proc/sys/vm/drop_caches: 1 drops
// the page cache, 2 dentries and inodes (FUSE inodes get FORGET), 3 both.
func dropCaches(level int) error {
	if err := syncAll(); err != nil {
		return err
	}
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte(fmt.Sprint(level)), 0o644)
}

// Median returns the median of xs (left unchanged); 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
