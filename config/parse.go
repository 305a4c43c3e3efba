package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tierfs/tierfs/policy"
)

// FieldError is a problem with one field of a config. Its message is
// "SOURCE: FIELD: REASON".
type FieldError struct {
	Source string // file path or DefaultSource
	Field  string // e.g. "rule[3].tier", "kernel.entry_timeout"; "" for the whole file
	Err    error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Source + ": " + e.Err.Error()
	}
	return e.Source + ": " + e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Load reads the file at path and parses it.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data and checks its meaning, without disk access. source
// names the data in errors. All problems found are reported together,
// joined with errors.Join; each is a *FieldError.
func Parse(source string, data []byte) (*Config, error) {
	c := &Config{Source: source}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, decodeError(source, data, err)
	}
	if errs := unknownKeys(source, data, md.Undecoded()); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	defaults := []struct {
		key string
		d   *Duration
		v   Duration
	}{
		{"entry_timeout", &c.Kernel.EntryTimeout, Duration{DefaultEntryTimeout}},
		{"attr_timeout", &c.Kernel.AttrTimeout, Duration{DefaultAttrTimeout}},
		{"negative_timeout", &c.Kernel.NegativeTimeout, Duration{DefaultNegativeTimeout}},
	}
	for _, d := range defaults {
		if !md.IsDefined("kernel", d.key) {
			*d.d = d.v
		}
	}
	if !md.IsDefined("cache", "size") {
		c.Cache.Size = DefaultCacheSize
	}
	if !md.IsDefined("mover", "interval") {
		c.Mover.Interval = Duration{DefaultMoverInterval}
	}
	c.setClusterDefaults(func(key string) bool { return md.IsDefined("cluster", key) })
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// knownKeys lists the keys of a table ("" is the top level), for
// unknown-key errors.
func knownKeys(table string) []string {
	switch table {
	case "":
		return []string{"tier", "rule", "kernel", "cache", "metrics", "mover", "cluster"}
	case "tier":
		return []string{"name", "path", "kind", "uuid", "min_free", "target_free", "shared"}
	case "rule":
		return []string{"match", "tier", "demote_after", "demote_to", "only_seen", "min_size", "quiet"}
	case "mover":
		return []string{"interval", "bytes_per_second", "files_per_second"}
	case "kernel":
		return []string{"entry_timeout", "attr_timeout", "negative_timeout"}
	case "cache":
		return []string{"size", "max_nodes"}
	case "metrics":
		return []string{"listen"}
	case "cluster":
		return []string{"host", "host_timeout", "release_after", "lease_wait", "users", "shared_timeout"}
	}
	return nil
}

// unknownKeys turns toml's undecoded keys into field errors. toml does
// not say which [[tier]] or [[rule]] a key was in, so the raw document is
// searched for it.
func unknownKeys(source string, data []byte, keys []toml.Key) []error {
	if len(keys) == 0 {
		return nil
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return []error{&FieldError{Source: source, Err: err}}
	}
	var errs []error
	reported := map[string]bool{}
	for _, k := range keys {
		// Report a key once, not again for each key below it.
		if len(k) > 1 && reported[k[:len(k)-1].String()] {
			reported[k.String()] = true
			continue
		}
		reported[k.String()] = true
		table := ""
		if len(k) > 1 {
			table = k[0]
		}
		want := "no keys"
		if known := knownKeys(table); known != nil && len(k) <= 2 {
			want = "want " + strings.Join(known, ", ")
		}
		for _, field := range fieldNames(raw, k) {
			errs = append(errs, &FieldError{Source: source, Field: field, Err: fmt.Errorf("unknown key (%s)", want)})
		}
	}
	return errs
}

// fieldNames spells key as the fields it occurs in, with the 1-based
// index of each array-of-tables element that holds it.
func fieldNames(raw map[string]any, k toml.Key) []string {
	if len(k) < 2 {
		return []string{k.String()}
	}
	arr, ok := raw[k[0]].([]map[string]any)
	if !ok {
		return []string{k.String()}
	}
	var names []string
	for i, elem := range arr {
		if hasPath(elem, k[1:]) {
			names = append(names, fmt.Sprintf("%s[%d].%s", k[0], i+1, k[1:].String()))
		}
	}
	if len(names) == 0 {
		names = []string{k.String()}
	}
	return names
}

func hasPath(m map[string]any, k []string) bool {
	v, ok := m[k[0]]
	if !ok || len(k) == 1 {
		return ok
	}
	sub, ok := v.(map[string]any)
	return ok && hasPath(sub, k[1:])
}

// validate checks the meaning of a decoded config and compiles its
// placement.
func (c *Config) validate() error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Source: c.Source, Field: field, Err: fmt.Errorf(format, args...)})
	}
	c.validateTiers(fail)
	rules := c.validateRules(fail)
	c.validateMetrics(fail)
	c.validateAging(fail)
	c.validateCache(fail)
	c.validateCluster(fail)
	for _, k := range []struct {
		key string
		d   Duration
	}{
		{"entry_timeout", c.Kernel.EntryTimeout},
		{"attr_timeout", c.Kernel.AttrTimeout},
		{"negative_timeout", c.Kernel.NegativeTimeout},
	} {
		if k.d.Duration < 0 {
			fail("kernel."+k.key, "%q %w", k.d, errNegative)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	p, err := policy.NewPlacement(rules, len(c.Tiers))
	if err != nil {
		return &FieldError{Source: c.Source, Field: "rule", Err: err}
	}
	c.Placement = p
	return nil
}

type failFunc func(field, format string, args ...any)

func (c *Config) validateTiers(fail failFunc) {
	switch n := len(c.Tiers); {
	case n == 0:
		fail("tier", "no [[tier]] tables; at least one tier is needed")
	case n > policy.MaxTiers:
		fail("tier", "%d [[tier]] tables; at most %d tiers are supported", n, policy.MaxTiers)
	}
	for i := range c.Tiers {
		t := &c.Tiers[i]
		f := fmt.Sprintf("tier[%d]", i+1)
		switch {
		case t.Name == "":
			fail(f+".name", "missing")
		case !validName(t.Name):
			fail(f+".name", "%q: use only letters, digits, '-', '_' and '.'", t.Name)
		default:
			if j := c.TierIndex(t.Name); j < i {
				fail(f+".name", "%q is also the name of tier[%d]", t.Name, j+1)
			}
		}
		switch t.Kind {
		case KindTmpfs, KindLocal, KindNFS:
		case "":
			fail(f+".kind", "missing (want tmpfs, local or nfs)")
		default:
			fail(f+".kind", "%q is not a kind (want tmpfs, local or nfs)", t.Kind)
		}
		switch {
		case t.UUID == "":
		case t.Kind == KindTmpfs:
			fail(f+".uuid", "a tmpfs tier has no marker to pin")
		case !validUUID(t.UUID):
			fail(f+".uuid", "%q is not a UUID (want the one \"tierfs init\" printed, e.g. 27fa9dd7-7afa-4398-b1c7-b729d829c4b1)", t.UUID)
		}
		t.validateSpace(f, fail)
		switch {
		case t.Path == "":
			fail(f+".path", "missing")
		case !filepath.IsAbs(t.Path):
			fail(f+".path", "%q is not an absolute path", t.Path)
		default:
			t.Path = filepath.Clean(t.Path)
		}
	}
}

// validUUID accepts the 8-4-4-4-12 hex form markers carry.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// validName keeps tier names usable in markers, metrics labels, xattr
// values and log lines without quoting.
func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return s != "." && s != ".."
}

// validateRules checks every rule and returns the compiled ones, which
// are meaningful only when nothing failed.
func (c *Config) validateRules(fail failFunc) []policy.Rule {
	if len(c.Rules) == 0 {
		fail("rule", `no [[rule]] tables; the last rule must match "**"`)
		return nil
	}
	names := make([]string, len(c.Tiers))
	for i, t := range c.Tiers {
		names[i] = t.Name
	}
	rules := make([]policy.Rule, 0, len(c.Rules))
	catchAll := -1
	for i, r := range c.Rules {
		f := fmt.Sprintf("rule[%d]", i+1)
		var rule policy.Rule
		if r.Match == "" {
			fail(f+".match", `missing (use "**" to match everything)`)
		} else if g, err := policy.CompileGlob(r.Match); err != nil {
			fail(f+".match", "%w", err)
		} else {
			rule.Glob = g
		}
		c.validateTier(fail, f, r, names)
		if s, ok := c.spread(r.Tier); ok && len(s) > 0 {
			rule.Tier = s[0]
			if len(s) > 1 {
				rule.Tiers = s
			}
		}
		rule.DemoteTo, _ = c.spread(r.DemoteTo)
		if catchAll >= 0 {
			fail(f, "unreachable: rule[%d] matches everything before it", catchAll+1)
		} else if rule.Glob != nil && rule.Glob.IsCatchAll() { // "**/**" too
			catchAll = i
		}
		rules = append(rules, rule)
	}
	if catchAll < 0 {
		last := len(c.Rules)
		fail(fmt.Sprintf("rule[%d].match", last), `%q is the last rule, but the last rule must be the catch-all "**"`, c.Rules[last-1].Match)
	}
	if slices.ContainsFunc(rules, func(r policy.Rule) bool { return r.Glob == nil }) {
		return nil
	}
	return rules
}

// validateCache checks the node cap; sizes cannot be negative by type.
func (c *Config) validateCache(fail failFunc) {
	switch n := c.Cache.MaxNodes; {
	case n == nil || *n == 0 || *n >= MinMaxNodes:
	case *n < 0:
		fail("cache.max_nodes", "%d %w", *n, errNegative)
	default:
		fail("cache.max_nodes", "%d is below the minimum of %d (0 turns the cap off)", *n, MinMaxNodes)
	}
}

// validateTier checks a rule's tier, or each member of its list.
func (c *Config) validateTier(fail failFunc, f string, r RuleSpec, names []string) {
	if len(r.Tier) == 0 {
		fail(f+".tier", "missing")
		return
	}
	c.validateList(fail, f, "tier", r.Match, r.Tier)
	for m, name := range r.Tier {
		if c.TierIndex(name) < 0 {
			fail(memberField(f+".tier", r.Tier, m), "%q is not a tier (have: %s)", name, strings.Join(names, ", "))
		}
	}
}
