package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad configurations are refused before anything is mounted or any marker
// written, by both tierfs init and tierfs mount, with a message naming the
// file, the field and the bad value.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *fsConfig, fx *fixture)
		raw  string   // replaces the rendered config when set
		want []string // besides the config file's path
	}{
		{"unknown kind", func(c *fsConfig, _ *fixture) { c.Tiers[1].Kind = "ssd" }, "", []string{"tier[2].kind", "ssd"}},
		{"missing path", func(c *fsConfig, _ *fixture) { c.Tiers[2].Path = "" }, "", []string{"tier[3].path"}},
		{"relative path", func(c *fsConfig, _ *fixture) { c.Tiers[2].Path = "relative/dir" }, "", []string{"tier[3].path", "relative/dir"}},
		{"path does not exist", func(c *fsConfig, fx *fixture) { c.Tiers[1].Path = filepath.Join(fx.base, "no", "such") }, "", []string{"path", "no/such"}},
		{"duplicate tier name", func(c *fsConfig, _ *fixture) { c.Tiers[2].Name = "fast" }, "", []string{"tier[3].name", "fast"}},
		{"rule names an unknown tier", func(c *fsConfig, _ *fixture) { c.Rules[1].Tier = "nvme" }, "", []string{"rule[2].tier", "nvme"}},
		{"bad glob", func(c *fsConfig, _ *fixture) { c.Rules[0].Match = "volatile/[ab" }, "", []string{"rule[1].match", "volatile/[ab"}},
		{"no catch-all last", func(c *fsConfig, _ *fixture) { c.Rules = c.Rules[:len(c.Rules)-1] }, "", []string{"rule", `"**"`}},
		{"no tiers", func(c *fsConfig, _ *fixture) { c.Tiers = nil }, "", []string{"tier"}},
		{"bad duration", func(c *fsConfig, _ *fixture) { c.Extra = "[kernel]\nentry_timeout = \"soon\"\n" }, "", []string{"entry_timeout", "soon"}},
		{"unknown key", func(c *fsConfig, _ *fixture) { c.Extra = "[kernel]\nentry_timout = \"60s\"\n" }, "", []string{"entry_timout"}},
		{"toml syntax", nil, "[[tier]\nname = \"fast\"\n", []string{"line"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			cfg := defaultConfig()
			fx := prepareFixture(t, &cfg)
			text := c.raw
			if text == "" {
				c.edit(&cfg, fx)
				text = cfg.toml()
			}
			fx.writeConfig(t, text)
			want := append([]string{fx.cfgPath}, c.want...)
			out, err := fx.run("init", "--config", fx.cfgPath, "--state-dir", fx.stateDir)
			if err == nil {
				t.Errorf("tierfs init accepted the bad config; output:\n%s", out)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("tierfs init's message does not mention %q:\n%s", w, out)
				}
			}
			for name := range fx.tiers {
				if fileExists(fx.tierPath(name, ".tierfs-tier")) {
					t.Errorf("tierfs init wrote a marker on tier %s despite the bad config", name)
				}
			}
			mountRefused(t, fx, true, want...)
		})
	}
	t.Run("valid", func(t *testing.T) {
		fx := newFixture(t, defaultConfig()) // the control: the unedited config is accepted
		if _, err := os.Stat(fx.tierPath("fast", ".tierfs-tier")); err != nil {
			t.Errorf("tierfs init of the valid config wrote no marker: %v", err)
		}
	})
}
