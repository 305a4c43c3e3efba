package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Target names, in table order.
const (
	TargetNative   = "native"
	TargetTierfs   = "tierfs"
	TargetMergerfs = "mergerfs"
	TargetSlowMail = "tierfs-slowmail"
	TargetAllSlow  = "tierfs-allslow"
	TargetSlow     = "slow"
	TargetCluster  = "tierfs-cluster"
)

// AllTargets lists every target name in table order.
func AllTargets() []string {
	return []string{TargetNative, TargetTierfs, TargetMergerfs, TargetSlowMail, TargetAllSlow, TargetSlow, TargetCluster}
}

// DefaultTargets are the targets a run measures unless told otherwise:
// all but tierfs-cluster, which answers a question of its own (what
// cluster mode costs) and no goal of the issue.
func DefaultTargets() []string {
	return slices.DeleteFunc(AllTargets(), func(t string) bool { return t == TargetCluster })
}

// AllWorkloadNames lists every workload name in run order.
func AllWorkloadNames() []string {
	var names []string
	for _, w := range AllWorkloads() {
		names = append(names, w.Name())
	}
	return names
}

// Options configure one benchmark run.
type Options struct {
	Rounds    int
	Sizes     Sizes
	Targets   []string // subset of AllTargets
	Workloads []string // subset of AllWorkloadNames
	SlowDelay time.Duration
	// SlowAllXattrs lets slowfs carry every xattr namespace with the
	// delay of a round trip; by default it refuses all but user.* at
	// once, as the Linux NFS client does.
	SlowAllXattrs bool

	RepoDir     string // module root, where tierfs and slowfs are built
	WorkParent  string // parent of the scratch directory ("" = $TMPDIR)
	TmpfsSize   string // size= of the run's tmpfs
	KeepWorkdir bool

	MergerfsBin, MergerfsOpts, PostmarkBin string

	// Counts records per-workload request counts from targets that
	// expose them (slowfs always; tierfs when TierfsMetricsURL is set).
	Counts            bool
	TierfsMetricsURL  string
	TierfsMetric      string
	TierfsConfigExtra string // TOML appended to generated tierfs configs
	// TierfsTransport is transport= of the tierfs mounts ("": tierfs's
	// default, dev); with io_uring the run turns the fuse module's
	// enable_uring on, and back.
	TierfsTransport string

	Log io.Writer // progress lines
}

// Validate checks the options and names the bad one.
func (o *Options) Validate() error {
	if o.Rounds < 1 {
		return fmt.Errorf("rounds: %d, want at least 1", o.Rounds)
	}
	for _, t := range o.Targets {
		if !slices.Contains(AllTargets(), t) {
			return fmt.Errorf("targets: unknown target %q (have: %s)", t, strings.Join(AllTargets(), ", "))
		}
	}
	for _, w := range o.Workloads {
		if !slices.Contains(AllWorkloadNames(), w) {
			return fmt.Errorf("workloads: unknown workload %q (have: %s)", w, strings.Join(AllWorkloadNames(), ", "))
		}
	}
	if t := o.TierfsTransport; t != "" && t != "dev" && t != "io_uring" {
		return fmt.Errorf("tierfs-transport: %q, want dev or io_uring", t)
	}
	if len(o.Targets) == 0 || len(o.Workloads) == 0 {
		return fmt.Errorf("nothing to run: need at least one target and one workload")
	}
	s := o.Sizes
	for name, v := range map[string]int64{
		"files": int64(s.Files), "readdir entries": int64(s.ReaddirEntries), "seq bytes": s.SeqBytes, "seq passes": int64(s.SeqPasses),
		"maildir msgs": int64(s.MaildirMsgs), "msg size": int64(s.MsgSize),
		"postmark files": int64(s.PostmarkFiles), "postmark transactions": int64(s.PostmarkTx),
		"dovecot users": int64(s.DovecotUsers), "dovecot msgs": int64(s.DovecotMsgs), "dovecot clients": int64(s.DovecotClients),
	} {
		if v < 1 {
			return fmt.Errorf("sizes: %s is %d, want at least 1", name, v)
		}
	}
	return nil
}

func (o *Options) needsTierfs() bool {
	return slices.ContainsFunc(o.Targets, func(t string) bool {
		return t == TargetTierfs || t == TargetSlowMail || t == TargetAllSlow || t == TargetCluster
	})
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}
