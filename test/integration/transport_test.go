package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// The transport= mount option picks how requests reach the daemon; dev
// is the default. Every transport serves the same filesystem: files land
// on their tiers and read back.
func TestTransports(t *testing.T) {
	cases := []struct {
		name string
		opts []string
		want string // in the daemon's "mounted" line
	}{
		{"io_uring", []string{"transport=io_uring"}, "transport=io_uring"},
		{"dev", []string{"transport=dev"}, "transport=dev"},
		{"default", nil, "transport=dev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireIntegration(t)
			fusetest.SetURing(t, true)
			f := newFixture(t, defaultConfig())
			f.opts = tc.opts
			f.mount(t)
			if log := f.d.log(); !strings.Contains(log, tc.want) {
				t.Errorf("daemon log does not say %q:\n%s", tc.want, log)
			}
			files := map[string]string{"index/u/dovecot.index": "fast", "mail/u/cur/1:2,S": "slow", "volatile/u/lock": "tmp"}
			for rel, tier := range files {
				if err := os.MkdirAll(filepath.Dir(f.path(rel)), 0o755); err != nil {
					t.Fatal(err)
				}
				data := strings.Repeat(rel, 1000)
				f.writeFile(t, rel, data)
				if got := f.tiersHolding(rel); len(got) != 1 || got[0] != tier {
					t.Errorf("%s is on %v, want [%s]", rel, got, tier)
				}
				mustContent(t, f.path(rel), data)
			}
		})
	}
	t.Run("io_uring-refused-when-off", func(t *testing.T) {
		requireIntegration(t)
		fusetest.SetURing(t, false)
		cfg := defaultConfig()
		fx := prepareFixture(t, &cfg)
		fx.writeConfig(t, cfg.toml())
		if out, err := fx.run("init", "--config", fx.cfgPath, "--state-dir", fx.stateDir); err != nil {
			t.Fatalf("tierfs init: %v\n%s", err, out)
		}
		fx.opts = []string{"transport=io_uring"}
		mountRefused(t, fx, true, "mount option transport", "enable_uring")
	})
	t.Run("unknown-transport", func(t *testing.T) {
		requireIntegration(t)
		cfg := defaultConfig()
		fx := prepareFixture(t, &cfg)
		fx.writeConfig(t, cfg.toml())
		fx.opts = []string{"transport=splice"}
		mountRefused(t, fx, true, "mount option transport", `"splice"`)
	})
}
