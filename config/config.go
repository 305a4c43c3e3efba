// Package config reads tierfs's TOML configuration: the tiers, the
// placement rules over them, the kernel cache timeouts and the metrics
// endpoint. Parse checks syntax and meaning without touching the disk;
// Check looks at the disk before a mount.
//
// Errors name the source, the field and the reason, as in
// `/etc/tierfs.toml: rule[3].tier: "fats" is not a tier (have: tmp, fast, slow)`.
// Indexes count [[tier]] and [[rule]] tables from 1 in file order.
package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tierfs/tierfs/dovecot"
	"github.com/tierfs/tierfs/policy"
)

// Kind is what a tier is stored on. It decides how tierfs treats it: tmpfs
// tiers are created at mount and may lose data; local and nfs tiers are
// persistent and must carry the marker `tierfs init` writes.
type Kind string

// The tier kinds.
const (
	KindTmpfs Kind = "tmpfs"
	KindLocal Kind = "local"
	KindNFS   Kind = "nfs"
)

// Persistent reports whether data on a tier of this kind survives a reboot.
func (k Kind) Persistent() bool { return k == KindLocal || k == KindNFS }

// Config is a parsed and checked configuration.
type Config struct {
	Source    string            `toml:"-"` // file path, or "embedded default"
	Tiers     []Tier            `toml:"tier"`
	Rules     []RuleSpec        `toml:"rule"`
	Kernel    Kernel            `toml:"kernel"`
	Cache     Cache             `toml:"cache"`
	Metrics   Metrics           `toml:"metrics,omitempty"`
	Mover     Mover             `toml:"mover"`
	Cluster   *Cluster          `toml:"cluster,omitempty"` // nil: one host
	Placement *policy.Placement `toml:"-"`                 // compiled by Parse
}

// Tier is one backing directory.
type Tier struct {
	Name string `toml:"name"`
	Path string `toml:"path"`
	Kind Kind   `toml:"kind"`
	// UUID, if set, pins the persistent tier to the marker "tierfs
	// init" wrote: a marker of the right name but another UUID (an old
	// one on the bare directory under an unmounted NFS export) is
	// refused.
	UUID string `toml:"uuid,omitempty"`
	// MinFree is the free space below which the tier takes no new files:
	// a file its rule places here is created on another persistent tier
	// (the rule's demote_to first), and the mover moves nothing here.
	MinFree Reserve `toml:"min_free,omitempty"`
	// TargetFree is the free space the mover keeps: below it, it demotes
	// the oldest files of aging rules early, until it is reached again.
	// It defaults to twice MinFree and must not be below it.
	TargetFree Reserve `toml:"target_free,omitempty"`
	// Shared marks a persistent tier every host of the [cluster] mounts
	// (an NFS export): several daemons use it at once, each keeping its
	// own state there under its host name.
	Shared bool `toml:"shared,omitempty"`
}

// RuleSpec is one placement rule as written: a glob and a tier name, or
// a list of tier names its {hash} buckets spread over.
type RuleSpec struct {
	Match string    `toml:"match"`
	Tier  TierNames `toml:"tier"`
	Aging
}

// Kernel holds how long the kernel may cache what tierfs tells it.
// tierfs is the only writer of its tiers, so these can be long.
type Kernel struct {
	EntryTimeout    Duration `toml:"entry_timeout"`
	AttrTimeout     Duration `toml:"attr_timeout"`
	NegativeTimeout Duration `toml:"negative_timeout"`
}

// Cache bounds the memory tierfs keeps about files: its metadata cache
// (which tier holds a name, negative results, stat results from nfs
// tiers) and the nodes go-fuse keeps for the inodes the kernel holds.
// Size covers both (see Memory); what the kernel caches, and for how
// long, is governed by [kernel].
type Cache struct {
	Size ByteSize `toml:"size"`
	// MaxNodes, when set, replaces the cap on live nodes that Memory
	// derives from Size; 0 turns the cap off.
	MaxNodes *int64 `toml:"max_nodes,omitempty"`
}

// DefaultCacheSize is the [cache] size when the key is left out.
const DefaultCacheSize ByteSize = 64 << 20

// NodeCost is what one live node costs the daemon in resident memory:
// go-fuse's inode with its entries in go-fuse's tables and in its
// parent's child list, tierfs's node, the pruner's slot, and the share of
// the Go heap's headroom (see gcHeadroom) that comes with them. Measured
// with benchmarks/memory/run.sh, one million lookups on a local tier (no
// metadata cache): the daemon's RSS with 46,807 live nodes (cap 49,152)
// less its RSS with 973 (cap 1,000), per node, is 1,395 bytes
// (2026-12-05; 1,357 on 2026-11-28).
const NodeCost = 1400

// gcHeadroom is resident bytes per live byte: Go's collector lets the
// heap grow to twice what is live before it collects (GOGC=100). The
// metadata cache counts live bytes; its resident share is this much more.
const gcHeadroom = 2

// MinMaxNodes is the smallest node cap: below it the nodes the kernel
// cannot drop (open files, directories on the paths in use) could fill
// the cap, and the pruner would run for nothing.
const MinMaxNodes = 1000

// CacheMemory is how [cache] is put to use.
type CacheMemory struct {
	MetadataBytes int64 // the metadata cache's share of the heap (live bytes); 0: no metadata cache
	MaxNodes      int64 // the cap on live nodes; 0: no cap
}

// Memory splits Size, which is resident memory: a quarter for the
// metadata cache (which exists only with an nfs tier, and only from a
// Size of about 8 MiB), the other three quarters for live nodes at NodeCost
// each (at least MinMaxNodes). The daemon's resident memory is then
// about its own (some 13 MiB idle, 28 MiB busy) plus Size. A Size of 0
// turns both off: no metadata cache and, unless MaxNodes is set, no cap
// (go-fuse then keeps a node for every inode the kernel holds, until the
// kernel forgets it).
func (c Cache) Memory() CacheMemory {
	size := int64(c.Size)
	m := CacheMemory{MetadataBytes: size / 4 / gcHeadroom}
	if size > 0 {
		m.MaxNodes = max((size-size/4)/NodeCost, MinMaxNodes)
	}
	if c.MaxNodes != nil {
		m.MaxNodes = *c.MaxNodes
	}
	return m
}

// DefaultSource is Config.Source of the embedded default.
const DefaultSource = "embedded default"

// Kernel timeout defaults, used for keys the file leaves out.
const (
	DefaultEntryTimeout    = 60 * time.Second
	DefaultAttrTimeout     = 60 * time.Second
	DefaultNegativeTimeout = 10 * time.Second
)

// DefaultDemoteAfter is the age at which the embedded default moves
// mail to its slow tier.
const DefaultDemoteAfter = 30 * 24 * time.Hour

// DefaultTmpfsPath is the tmpfs tier of the embedded default.
const DefaultTmpfsPath = "/dev/shm/tierfs"

// Default returns the embedded default for state directory stateDir (made
// absolute): tiers "tmpfs" (DefaultTmpfsPath), "fast" (STATE/fast) and
// "slow" (STATE/slow), routed by the Dovecot preset; mail older than
// DefaultDemoteAfter is demoted to slow.
func Default(stateDir string) *Config {
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	c := &Config{
		Source: DefaultSource,
		Tiers: []Tier{
			{Name: "tmpfs", Path: DefaultTmpfsPath, Kind: KindTmpfs},
			{Name: "fast", Path: filepath.Join(stateDir, "fast"), Kind: KindLocal},
			{Name: "slow", Path: filepath.Join(stateDir, "slow"), Kind: KindLocal},
		},
		Kernel: Kernel{
			EntryTimeout:    Duration{DefaultEntryTimeout},
			AttrTimeout:     Duration{DefaultAttrTimeout},
			NegativeTimeout: Duration{DefaultNegativeTimeout},
		},
		Cache: Cache{Size: DefaultCacheSize},
		Mover: Mover{Interval: Duration{DefaultMoverInterval}},
	}
	for _, r := range dovecot.PresetRules("tmpfs", "fast", "fast") {
		rule := RuleSpec{Match: r.Match, Tier: TierNames{r.Tier}}
		if r.Role == dovecot.RoleMail {
			// Dovecot's ALT storage, for every format: mail older than
			// DefaultDemoteAfter moves to the slow tier.
			rule.Aging = Aging{DemoteAfter: Duration{DefaultDemoteAfter}, DemoteTo: TierNames{"slow"}}
		}
		c.Rules = append(c.Rules, rule)
	}
	if err := c.validate(); err != nil {
		panic("config: embedded default is invalid: " + err.Error())
	}
	return c
}

// TierIndex returns the index of the tier called name, or -1.
func (c *Config) TierIndex(name string) int {
	for i, t := range c.Tiers {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// Marshal returns the config as TOML that Parse reads back to the same
// config.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# tierfs configuration (from %s)\n\n", c.Source)
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	return buf.Bytes(), nil
}
