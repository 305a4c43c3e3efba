package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const agingTiers = `
[[tier]]
name = "tmp"
path = "/dev/shm/t"
kind = "tmpfs"
[[tier]]
name = "fast"
path = "/srv/fast"
kind = "local"
[[tier]]
name = "slow"
path = "/srv/slow"
kind = "nfs"
`

func TestAgingParse(t *testing.T) {
	c, err := Parse("t.toml", []byte(agingTiers+`
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_after = "30d"
demote_to = "slow"
only_seen = true
min_size = "4KiB"
quiet = "10m"
[[rule]]
match = "**"
tier = "fast"
[mover]
interval = "15m"
bytes_per_second = "8MiB"
files_per_second = 50
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Rules[0].Aging
	want := Aging{DemoteAfter: Duration{30 * 24 * time.Hour}, DemoteTo: TierNames{"slow"}, OnlySeen: true, MinSize: 4096, Quiet: Duration{10 * time.Minute}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("rule[1] aging = %+v, want %+v", a, want)
	}
	if !reflect.DeepEqual(c.Rules[1].Aging, Aging{}) || c.Rules[1].Demotes() {
		t.Errorf("rule[2] aging = %+v, want none", c.Rules[1].Aging)
	}
	if m := c.Mover; m.Interval.Duration != 15*time.Minute || m.BytesPerSecond != 8<<20 || m.FilesPerSecond != 50 {
		t.Errorf("mover = %+v", m)
	}
	// Marshal round-trips the aging fields.
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("again", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(c2.Rules[0].Aging, want) || c2.Mover != c.Mover {
		t.Errorf("round trip: %+v %+v\n%s", c2.Rules[0].Aging, c2.Mover, data)
	}
}

func TestMoverDefault(t *testing.T) {
	c, err := Parse("t.toml", []byte(agingTiers+"[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mover.Interval.Duration != DefaultMoverInterval {
		t.Errorf("default interval = %v", c.Mover.Interval)
	}
	if d := Default(t.TempDir()); d.Mover.Interval.Duration != DefaultMoverInterval {
		t.Errorf("embedded default interval = %v", d.Mover.Interval)
	}
}

func TestAgingErrors(t *testing.T) {
	tests := []struct {
		name, rule, extra, want string
	}{
		{"unknown tier", `demote_to = "slw"`, "", `t.toml: rule[1].demote_to: "slw" is not a tier (have: tmp, fast, slow)`},
		{"tmpfs tier", `demote_to = "tmp"`, "", `t.toml: rule[1].demote_to: "tmp" is a tmpfs tier`},
		{"own tier", `demote_to = "fast"`, "", `t.toml: rule[1].demote_to: "fast" is the rule's own tier`},
		{"no target", `demote_after = "30d"`, "", `t.toml: rule[1].demote_to: missing`},
		{"bad duration", `demote_to = "slow"` + "\ndemote_after = \"30 days\"", "", `demote_after`},
		{"number duration", `demote_to = "slow"` + "\ndemote_after = 30", "", `demote_after`},
		{"negative", `demote_to = "slow"` + "\ndemote_after = \"-1d\"", "", `t.toml: rule[1].demote_after: "-1d" is negative`},
		{"quiet without user", `demote_to = "slow"` + "\nquiet = \"10m\"", "", `t.toml: rule[1].quiet: needs a {user} capture`},
		{"bad size", `demote_to = "slow"` + "\nmin_size = \"big\"", "", `min_size`},
		{"unknown key", `demote_to = "slow"` + "\ndemote_too = \"slow\"", "", `t.toml: rule[1].demote_too: unknown key`},
		{"mover interval", `demote_to = "slow"`, "[mover]\ninterval = \"-1h\"\n", `t.toml: mover.interval: "-1h" is negative`},
		{"mover files", `demote_to = "slow"`, "[mover]\nfiles_per_second = -2.0\n", `t.toml: mover.files_per_second: -2 is negative`},
		{"mover files nan", `demote_to = "slow"`, "[mover]\nfiles_per_second = nan\n", `t.toml: mover.files_per_second: NaN is not a number of files per second`},
		{"mover files inf", `demote_to = "slow"`, "[mover]\nfiles_per_second = inf\n", `t.toml: mover.files_per_second: +Inf is not a number of files per second`},
		{"mover files -inf", `demote_to = "slow"`, "[mover]\nfiles_per_second = -inf\n", `t.toml: mover.files_per_second: -Inf is not a number of files per second`},
		{"mover bytes float", `demote_to = "slow"`, "[mover]\nbytes_per_second = nan\n", `mover.bytes_per_second`},
		{"mover interval 1ns", `demote_to = "slow"`, "[mover]\ninterval = \"1ns\"\n", `t.toml: mover.interval: "1ns" is below the minimum of 1s ("0s" runs the mover only when asked`},
		{"mover interval 999ms", `demote_to = "slow"`, "[mover]\ninterval = \"999ms\"\n", `t.toml: mover.interval: "999ms" is below the minimum of 1s`},
		{"mover unknown", `demote_to = "slow"`, "[mover]\nintervall = \"1h\"\n", `t.toml: mover.intervall: unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := agingTiers + "[[rule]]\nmatch = \"mail/**\"\ntier = \"fast\"\n" + tt.rule + "\n[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n" + tt.extra
			_, err := Parse("t.toml", []byte(data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestMoverLimitsAccepted: the values at the edges of what [mover]
// accepts parse to what they say.
func TestMoverLimitsAccepted(t *testing.T) {
	tests := []struct {
		mover    string
		interval time.Duration
		fps      float64
	}{
		{"interval = \"0s\"\n", 0, 0},
		{"interval = \"1s\"\n", time.Second, 0},
		{"interval = \"1h\"\nfiles_per_second = 0.5\n", time.Hour, 0.5},
		{"interval = \"1h\"\nfiles_per_second = 0\n", time.Hour, 0},
	}
	for _, tt := range tests {
		c, err := Parse("t.toml", []byte(agingTiers+"[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n[mover]\n"+tt.mover))
		if err != nil {
			t.Errorf("[mover] %q: %v", tt.mover, err)
			continue
		}
		if c.Mover.Interval.Duration != tt.interval || c.Mover.FilesPerSecond != tt.fps {
			t.Errorf("[mover] %q: interval %v, files_per_second %v; want %v, %v", tt.mover, c.Mover.Interval, c.Mover.FilesPerSecond, tt.interval, tt.fps)
		}
	}
}
