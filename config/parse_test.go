package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

const goodConfig = `
[[tier]]
name = "tmp"
path = "/dev/shm/t"
kind = "tmpfs"

[[tier]]
name = "fast"
path = "/srv/fast/"
kind = "local"

[[tier]]
name = "slow"
path = "/srv/slow"
kind = "nfs"

[[rule]]
match = "volatile/**"
tier = "tmp"

[[rule]]
match = "mail/{hash}/{user}/**"
tier = "slow"

[[rule]]
match = "**"
tier = "fast"

[kernel]
entry_timeout = "2m"
negative_timeout = "0s"
`

func TestParse(t *testing.T) {
	c, err := Parse("test.toml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "test.toml" {
		t.Errorf("Source = %q", c.Source)
	}
	want := []Tier{{Name: "tmp", Path: "/dev/shm/t", Kind: KindTmpfs}, {Name: "fast", Path: "/srv/fast", Kind: KindLocal}, {Name: "slow", Path: "/srv/slow", Kind: KindNFS}}
	if len(c.Tiers) != len(want) {
		t.Fatalf("Tiers = %+v", c.Tiers)
	}
	for i := range want {
		if c.Tiers[i] != want[i] {
			t.Errorf("Tiers[%d] = %+v, want %+v", i, c.Tiers[i], want[i])
		}
	}
	k := c.Kernel
	if k.EntryTimeout.Duration != 2*time.Minute || k.AttrTimeout.Duration != DefaultAttrTimeout || k.NegativeTimeout.Duration != 0 {
		t.Errorf("Kernel = %+v, want entry 2m, attr default, negative 0 (explicit)", k)
	}
	tests := map[string]int{
		"volatile/f5/alice/x":  0,
		"mail/f5/alice/cur/1":  2,
		"index/f5/alice/x":     1,
		"":                     1,
		"mail/notahash/alice/": 1,
	}
	for path, tier := range tests {
		if got := c.Placement.Tier(path); got != tier {
			t.Errorf("Placement.Tier(%q) = %d, want %d", path, got, tier)
		}
	}
	if c.TierIndex("slow") != 2 || c.TierIndex("nope") != -1 {
		t.Errorf("TierIndex wrong: slow=%d nope=%d", c.TierIndex("slow"), c.TierIndex("nope"))
	}
}

func TestParseKernelDefaults(t *testing.T) {
	c, err := Parse("x", []byte(`
[[tier]]
name = "a"
path = "/a"
kind = "local"
[[rule]]
match = "**"
tier = "a"
`))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kernel
	if k.EntryTimeout.Duration != 60*time.Second || k.AttrTimeout.Duration != 60*time.Second || k.NegativeTimeout.Duration != 10*time.Second {
		t.Errorf("Kernel = %+v, want 60s 60s 10s", k)
	}
}

// edit returns goodConfig with old replaced by new (which must occur).
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(goodConfig, old) {
		t.Fatalf("goodConfig has no %q", old)
	}
	return strings.Replace(goodConfig, old, new, 1)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		field  string // FieldError.Field of the first error
		reason string // substring of the message
	}{
		{"syntax", edit(t, `kind = "nfs"`, `kind = nfs`), "", "toml: line"},
		{"unknown top key", "colour = 1\n" + goodConfig, "colour", "unknown key (want tier, rule, kernel, cache, metrics, mover, cluster)"},
		{"unknown tier key", edit(t, `name = "slow"`, "name = \"slow\"\ncolour = \"red\""), "tier[3].colour", "unknown key (want name, path, kind, uuid, min_free, target_free, shared)"},
		{"uuid malformed", edit(t, `name = "slow"`, "name = \"slow\"\nuuid = \"27fa9dd7-7afa\""), "tier[3].uuid", `"27fa9dd7-7afa" is not a UUID`},
		{"uuid not hex", edit(t, `name = "slow"`, "name = \"slow\"\nuuid = \"27fa9dd7-7afa-4398-b1c7-b729d829c4bz\""), "tier[3].uuid", "is not a UUID"},
		{"uuid on tmpfs", edit(t, `name = "tmp"`, "name = \"tmp\"\nuuid = \"27fa9dd7-7afa-4398-b1c7-b729d829c4b1\""), "tier[1].uuid", "a tmpfs tier has no marker to pin"},
		{"unknown rule key", edit(t, `tier = "tmp"`, "tier = \"tmp\"\nweight = 2"), "rule[1].weight", "unknown key (want match, tier, demote_after, demote_to, only_seen, min_size, quiet)"},
		{"unknown kernel key", goodConfig + "max_write = 1\n", "kernel.max_write", "unknown key (want entry_timeout, attr_timeout, negative_timeout)"},
		{"unknown subtable", goodConfig + "[kernel.x]\ny = 1\n", "kernel.x", "unknown key"},
		{"min_free not a size", edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"5 percent\""), "tier[2].min_free", `"5 percent" is not a size or a percentage`},
		{"min_free 100%", edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"100%\""), "tier[2].min_free", `"100%" is not a percentage`},
		{"min_free negative", edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = -1"), "tier[2].min_free", "-1 is negative"},
		{"min_free leaves no default target", edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"60%\""), "tier[2].min_free", `"60%" leaves no room for the default target_free`},
		{"target_free below min_free", edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"2GiB\"\ntarget_free = \"1GiB\""), "tier[2].target_free", `"1GiB" is below min_free ("2GiB")`},
		{"target_free percent below", edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"10%\"\ntarget_free = \"5%\""), "tier[2].target_free", `"5%" is below min_free ("10%")`},
		{"no tiers", "[[rule]]\nmatch = \"**\"\ntier = \"a\"\n", "tier", "no [[tier]] tables"},
		{"missing name", edit(t, `name = "fast"`, ``), "tier[2].name", "missing"},
		{"bad name", edit(t, `name = "fast"`, `name = "fa st"`), "tier[2].name", `"fa st": use only letters`},
		{"duplicate name", edit(t, `name = "slow"`, `name = "tmp"`), "tier[3].name", `"tmp" is also the name of tier[1]`},
		{"missing kind", edit(t, `kind = "nfs"`, ``), "tier[3].kind", "missing (want tmpfs, local or nfs)"},
		{"bad kind", edit(t, `kind = "nfs"`, `kind = "ssd"`), "tier[3].kind", `"ssd" is not a kind (want tmpfs, local or nfs)`},
		{"missing path", edit(t, `path = "/srv/slow"`, ``), "tier[3].path", "missing"},
		{"relative path", edit(t, `path = "/srv/slow"`, `path = "srv/slow"`), "tier[3].path", `"srv/slow" is not an absolute path`},
		{"no rules", goodConfig[:strings.Index(goodConfig, "[[rule]]")], "rule", "no [[rule]] tables"},
		{"rule unknown tier", edit(t, `tier = "slow"`, `tier = "fats"`), "rule[2].tier", `"fats" is not a tier (have: tmp, fast, slow)`},
		{"rule missing tier", edit(t, `tier = "slow"`, ``), "rule[2].tier", "missing"},
		{"rule missing match", edit(t, `match = "volatile/**"`, ``), "rule[1].match", "missing"},
		{"bad glob", edit(t, `match = "mail/{hash}/{user}/**"`, `match = "mail/{hsh}/**"`), "rule[2].match", "unknown capture {hsh}, want {hash} or {user}"},
		{"no catch-all", edit(t, `match = "**"`, `match = "other/**"`), "rule[3].match", `"other/**" is the last rule, but the last rule must be the catch-all "**"`},
		{"unreachable", goodConfig + "[[rule]]\nmatch = \"x/**\"\ntier = \"fast\"\n", "rule[4]", "unreachable: rule[3] matches everything"},
		{"unreachable after **/**", edit(t, `match = "volatile/**"`, `match = "**/**"`), "rule[2]", "unreachable: rule[1] matches everything"},
		{"unreachable after **/**/**", edit(t, `match = "mail/{hash}/{user}/**"`, `match = "**/**/**"`), "rule[3]", "unreachable: rule[2] matches everything"},
		{"too many tiers", manyTiers(33) + "[[rule]]\nmatch = \"**\"\ntier = \"t1\"\n", "tier", "33 [[tier]] tables; at most 32 tiers are supported"},
		{"negative timeout", edit(t, `entry_timeout = "2m"`, `entry_timeout = "-5s"`), "kernel.entry_timeout", `"-5s" is negative`},
		{"bad duration", edit(t, `entry_timeout = "2m"`, `entry_timeout = "2 minutes"`), "kernel.entry_timeout", `"2 minutes" is not a duration`},
		{"integer duration", edit(t, `entry_timeout = "2m"`, `entry_timeout = 60`), "kernel.entry_timeout", `duration must be a quoted string`},
		{"unknown cache key", goodConfig + "[cache]\nnodes = 5000\n", "cache.nodes", "unknown key (want size, max_nodes)"},
		{"negative max_nodes", goodConfig + "[cache]\nmax_nodes = -5\n", "cache.max_nodes", "-5 is negative"},
		{"tiny max_nodes", goodConfig + "[cache]\nmax_nodes = 10\n", "cache.max_nodes", "10 is below the minimum of 1000 (0 turns the cap off)"},
		{"max_nodes not a number", goodConfig + "[cache]\nmax_nodes = \"lots\"\n", "cache.max_nodes", "incompatible types"},
		{"max_nodes not an integer", goodConfig + "[cache]\nmax_nodes = 2.5\n", "cache.max_nodes", "incompatible types"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/tierfs.toml", []byte(tt.config))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FieldError", err)
			}
			if fe.Source != "/etc/tierfs.toml" || fe.Field != tt.field {
				t.Errorf("error %q: source %q field %q, want field %q", err, fe.Source, fe.Field, tt.field)
			}
			prefix := "/etc/tierfs.toml: "
			if tt.field != "" {
				prefix += tt.field + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q, want prefix %q and reason %q", err, prefix, tt.reason)
			}
		})
	}
}

// TestParseReportsAll checks several problems come back together.
func TestParseReportsAll(t *testing.T) {
	cfg := strings.Replace(edit(t, `kind = "nfs"`, `kind = "ssd"`), `tier = "slow"`, `tier = "fats"`, 1)
	_, err := Parse("c", []byte(cfg))
	if err == nil || !strings.Contains(err.Error(), "c: tier[3].kind:") || !strings.Contains(err.Error(), "c: rule[2].tier:") {
		t.Errorf("error = %v, want both tier[3].kind and rule[2].tier", err)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tierfs.toml")
	if err := os.WriteFile(path, []byte(goodConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != path {
		t.Errorf("Source = %q, want %q", c.Source, path)
	}
	_, err = Load(path + ".missing")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path+".missing") {
		t.Errorf("Load(missing) = %v, want ErrNotExist naming the file", err)
	}
}

func TestDefault(t *testing.T) {
	c := Default("/var/lib/tierfs")
	if c.Source != DefaultSource {
		t.Errorf("Source = %q", c.Source)
	}
	want := []Tier{
		{Name: "tmpfs", Path: "/dev/shm/tierfs", Kind: KindTmpfs},
		{Name: "fast", Path: "/var/lib/tierfs/fast", Kind: KindLocal},
		{Name: "slow", Path: "/var/lib/tierfs/slow", Kind: KindLocal},
	}
	for i := range want {
		if c.Tiers[i] != want[i] {
			t.Errorf("Tiers[%d] = %+v, want %+v", i, c.Tiers[i], want[i])
		}
	}
	tests := map[string]string{
		"volatile/f5/alice/mailboxes.lock":          "tmpfs",
		"listindex/f5/alice/dovecot.list.index.log": "tmpfs",
		"index/f5/alice/.INBOX/dovecot.index":       "fast",
		"mail/f5/alice/cur/1":                       "fast",
		"":                                          "fast",
	}
	for path, tier := range tests {
		if got := c.Tiers[c.Placement.Tier(path)].Name; got != tier {
			t.Errorf("Tier(%q) = %s, want %s", path, got, tier)
		}
	}
	if c.Kernel.NegativeTimeout.Duration != DefaultNegativeTimeout {
		t.Errorf("Kernel = %+v", c.Kernel)
	}
	if rel := Default("rel"); !filepath.IsAbs(rel.Tiers[1].Path) {
		t.Errorf("Default(rel) fast path %q is not absolute", rel.Tiers[1].Path)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	spaced := edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"7.5%\"\ntarget_free = \"3GiB\"")
	for _, c := range []*Config{Default("/var/lib/tierfs"), mustParse(t, goodConfig), mustParse(t, spaced), mustParse(t, clusterTiers+"[cluster]\nhost = \"mx1\"\nlease_wait = \"2s\"\n")} {
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("marshalled", data)
		if err != nil {
			t.Fatalf("Parse(Marshal()) = %v\n%s", err, data)
		}
		if len(back.Tiers) != len(c.Tiers) || len(back.Rules) != len(c.Rules) || back.Kernel != c.Kernel {
			t.Fatalf("round trip differs:\n%s", data)
		}
		for i := range c.Tiers {
			if back.Tiers[i] != c.Tiers[i] {
				t.Errorf("tier %d: %+v != %+v", i, back.Tiers[i], c.Tiers[i])
			}
		}
		for i := range c.Rules {
			if !reflect.DeepEqual(back.Rules[i], c.Rules[i]) {
				t.Errorf("rule %d: %+v != %+v", i, back.Rules[i], c.Rules[i])
			}
		}
		if cl, bcl := c.Cluster, back.Cluster; (cl == nil) != (bcl == nil) ||
			cl != nil && (bcl.Host != cl.Host || bcl.LeaseWait != cl.LeaseWait || bcl.HostTimeout != cl.HostTimeout || !slices.Equal(bcl.Users, cl.Users)) {
			t.Errorf("cluster: %+v != %+v", bcl, cl)
		}
	}
}

func mustParse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Parse("test", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReserve(t *testing.T) {
	tests := []struct {
		in       string
		want     Reserve
		capacity uint64
		bytes    uint64
	}{
		{"5%", Reserve{Percent: 5}, 1000, 50},
		{" 12.5 % ", Reserve{Percent: 12.5}, 1 << 20, 131072},
		{"20GiB", Reserve{Bytes: 20 << 30}, 1 << 40, 20 << 30},
		{"4096", Reserve{Bytes: 4096}, 1 << 20, 4096},
		{"0%", Reserve{}, 1000, 0},
	}
	for _, tt := range tests {
		r, err := ParseReserve(tt.in)
		if err != nil || r != tt.want {
			t.Errorf("ParseReserve(%q) = %+v, %v; want %+v", tt.in, r, err, tt.want)
			continue
		}
		if got := tiers.Reserve(r).Of(tt.capacity); got != tt.bytes {
			t.Errorf("%q.Of(%d) = %d, want %d", tt.in, tt.capacity, got, tt.bytes)
		}
		if back, err := ParseReserve(r.String()); err != nil || back != r {
			t.Errorf("ParseReserve(%q.String() = %q) = %+v, %v", tt.in, r.String(), back, err)
		}
	}
	for _, bad := range []string{"", "%", "-1%", "100%", "NaN%", "5 percent", "1.5GiB", "-3"} {
		if r, err := ParseReserve(bad); err == nil {
			t.Errorf("ParseReserve(%q) = %+v, want an error", bad, r)
		}
	}
}

func TestReserveDefaultTarget(t *testing.T) {
	c := mustParse(t, edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"5%\""))
	if got := c.Tiers[1].TargetFree; got != (Reserve{Percent: 10}) {
		t.Errorf("default target_free = %+v, want 10%%", got)
	}
	c = mustParse(t, edit(t, `name = "fast"`, "name = \"fast\"\nmin_free = \"1GiB\"\ntarget_free = \"5%\""))
	if got := c.Tiers[1].TargetFree; got != (Reserve{Percent: 5}) {
		t.Errorf("target_free = %+v, want 5%% as written", got)
	}
	if got := c.Tiers[2].MinFree; !got.IsZero() {
		t.Errorf("min_free left out = %+v, want none", got)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"64MiB", 64 << 20, true},
		{"512 KiB", 512 << 10, true},
		{"1024", 1024, true},
		{"2GiB", 2 << 30, true},
		{"-1", 0, false},
		{"ten", 0, false},
		{"1.5GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	c, err := Parse("t.toml", []byte("[[tier]]\nname=\"a\"\npath=\"/a\"\nkind=\"local\"\n[[rule]]\nmatch=\"**\"\ntier=\"a\"\n[cache]\nsize=\"8MiB\"\n"))
	if err != nil || c.Cache.Size != 8<<20 {
		t.Fatalf("cache.size: got %v, %v; want 8MiB", c, err)
	}
	_, err = Parse("t.toml", []byte("[[tier]]\nname=\"a\"\npath=\"/a\"\nkind=\"local\"\n[[rule]]\nmatch=\"**\"\ntier=\"a\"\n[cache]\nsize=\"lots\"\n"))
	if err == nil || !strings.Contains(err.Error(), "cache") {
		t.Fatalf("bad cache.size: got %v, want an error naming cache", err)
	}
}

// The embedded default demotes mail, and only mail, to the slow tier.
func TestDefaultDemotesMail(t *testing.T) {
	c := Default("/var/lib/tierfs")
	var demoting []string
	for _, r := range c.Rules {
		if r.Demotes() {
			demoting = append(demoting, r.Match+"→"+r.DemoteTo.String()+" after "+r.DemoteAfter.String())
		}
	}
	if len(demoting) != 1 || demoting[0] != "mail/**→slow after 30d" {
		t.Fatalf("demoting rules = %v, want [mail/**→slow after 30d]", demoting)
	}
}

// [cache] size is split between the metadata cache and the node cap;
// max_nodes replaces the derived cap.
func TestCacheMemory(t *testing.T) {
	tests := []struct {
		cache string
		want  CacheMemory
	}{
		{"", CacheMemory{MetadataBytes: 8 << 20, MaxNodes: 35951}}, // 48 MiB / 1400 B
		{`size = "8MiB"`, CacheMemory{MetadataBytes: 1 << 20, MaxNodes: 4493}},
		{`size = "1MiB"`, CacheMemory{MetadataBytes: 128 << 10, MaxNodes: MinMaxNodes}},
		{`size = 0`, CacheMemory{}},
		{"max_nodes = 0", CacheMemory{MetadataBytes: 8 << 20}},
		{"max_nodes = 200000", CacheMemory{MetadataBytes: 8 << 20, MaxNodes: 200000}},
		{"size = 0\nmax_nodes = 5000", CacheMemory{MaxNodes: 5000}},
	}
	for _, tt := range tests {
		c, err := Parse("t.toml", []byte(goodConfig+"[cache]\n"+tt.cache+"\n"))
		if err != nil {
			t.Fatalf("[cache] %q: %v", tt.cache, err)
		}
		if got := c.Cache.Memory(); got != tt.want {
			t.Errorf("[cache] %q: Memory() = %+v, want %+v", tt.cache, got, tt.want)
		}
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if back := mustParse(t, string(data)); back.Cache.Memory() != tt.want {
			t.Errorf("[cache] %q does not survive Marshal:\n%s", tt.cache, data)
		}
	}
}

// manyTiers is n local tiers t1..tN.
func manyTiers(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "[[tier]]\nname = \"t%d\"\npath = \"/srv/t%d\"\nkind = \"local\"\n", i, i)
	}
	return b.String()
}

// TestParseLimits: the largest tier count and a catch-all spelled
// differently are accepted.
func TestParseLimits(t *testing.T) {
	tests := []struct {
		name, config string
	}{
		{"32 tiers", manyTiers(32) + "[[rule]]\nmatch = \"**\"\ntier = \"t32\"\n"},
		{"catch-all **/**", edit(t, `match = "**"`, `match = "**/**"`)},
		{"**/* is no catch-all", edit(t, `match = "volatile/**"`, `match = "**/*"`)},
	}
	for _, tt := range tests {
		if _, err := Parse("t.toml", []byte(tt.config)); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestParseTypeErrors: a value of the wrong type or form is reported as
// SOURCE: FIELD: REASON, the field with its [[tier]] or [[rule]] index and
// the reason quoting what was written; every such value, not only the
// first.
func TestParseTypeErrors(t *testing.T) {
	const notDuration = ` is not a duration (want a number with a unit (s, m, h, d), e.g. "60s" or "30d")`
	const notSize = ` is not a size (want e.g. "64MiB", "512KiB" or a number of bytes)`
	tests := []struct {
		name   string
		config string
		want   []string // the whole error, one line per problem
	}{
		{"demote_after of the second rule", edit(t, "tier = \"slow\"\n", "tier = \"slow\"\ndemote_to = \"fast\"\ndemote_after = \"x\"\n"),
			[]string{`t.toml: rule[2].demote_after: "x"` + notDuration}},
		{"size with a decimal unit", edit(t, "tier = \"tmp\"\n", "tier = \"tmp\"\nmin_size = \"64MB\"\n"),
			[]string{`t.toml: rule[1].min_size: "64MB"` + notSize}},
		{"size quoted as written", goodConfig + "[cache]\nsize = \" 64 MB \"\n",
			[]string{`t.toml: cache.size: " 64 MB "` + notSize}},
		{"two bad values", edit(t, "tier = \"tmp\"\n", "tier = \"tmp\"\nquiet = \"soon\"\n") + "[mover]\ninterval = \"1 h\"\n",
			[]string{`t.toml: mover.interval: "1 h"` + notDuration, `t.toml: rule[1].quiet: "soon"` + notDuration}},
		{"tier name a number", edit(t, `name = "fast"`, `name = 2`),
			[]string{`t.toml: tier[2].name: incompatible types: TOML value has type int64; destination has type string`}},
		{"bytes_per_second not a number", goodConfig + "[mover]\nbytes_per_second = nan\n",
			[]string{`t.toml: mover.bytes_per_second: want a size like "64MiB" or a number of bytes, got NaN`}},
		{"files_per_second a string", goodConfig + "[mover]\nfiles_per_second = \"50\"\n",
			[]string{`t.toml: mover.files_per_second: incompatible types: TOML value has type string; destination has type float`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.config))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
