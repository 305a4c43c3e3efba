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
	Placement *policy.Placement `toml:"-"` // compiled by Parse
}

// Tier is one backing directory.
type Tier struct {
	Name string `toml:"name"`
	Path string `toml:"path"`
	Kind Kind   `toml:"kind"`
}

// RuleSpec is one placement rule as written: a glob and a tier name.
type RuleSpec struct {
	Match string `toml:"match"`
	Tier  string `toml:"tier"`
	Aging
}

// Kernel holds how long the kernel may cache what tierfs tells it.
// tierfs is the only writer of its tiers, so these can be long.
type Kernel struct {
	EntryTimeout    Duration `toml:"entry_timeout"`
	AttrTimeout     Duration `toml:"attr_timeout"`
	NegativeTimeout Duration `toml:"negative_timeout"`
}

// Cache sizes tierfs's own metadata cache (which tier holds a name,
// negative results, stat results from nfs tiers). Memory used by it stays
// within Size; what the kernel caches is governed by [kernel].
type Cache struct {
	Size ByteSize `toml:"size"`
}

// DefaultCacheSize is the metadata cache size when [cache] is left out.
const DefaultCacheSize ByteSize = 64 << 20

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
		rule := RuleSpec{Match: r.Match, Tier: r.Tier}
		if r.Role == dovecot.RoleMail {
			// Dovecot's ALT storage, for every format: mail older than
			// DefaultDemoteAfter moves to the slow tier.
			rule.Aging = Aging{DemoteAfter: Duration{DefaultDemoteAfter}, DemoteTo: "slow"}
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
