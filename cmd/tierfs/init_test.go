package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

// init takes no positional argument: a config path given without
// --config is a usage error naming it, and no tier is marked.
func TestInitRejectsPositional(t *testing.T) {
	tests := []struct {
		name string
		args func(state string) []string
		bad  string
	}{
		{"config without --config", func(s string) []string { return []string{"--state-dir", s, "/etc/tierfs/tierfs.toml"} }, "/etc/tierfs/tierfs.toml"},
		{"before the flags", func(s string) []string { return []string{"extra", "--state-dir", s} }, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			args := tt.args(state)
			var out bytes.Buffer
			err := runInit(context.Background(), args, &out)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), `"`+tt.bad+`"`) {
				t.Fatalf("init %q = %v, want a usage error naming %q", args, err, tt.bad)
			}
			if _, err := os.Stat(filepath.Join(state, "fast", tiers.MarkerName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("init %q marked the default fast tier: %v", args, err)
			}
		})
	}
}

// With a pinned uuid, init never writes a marker: it accepts the one
// that carries the UUID and refuses a missing or different one.
func TestInitPinnedUUID(t *testing.T) {
	const pinned = "27fa9dd7-7afa-4398-b1c7-b729d829c4b1"
	tests := []struct {
		name    string
		marker  bool // write a marker (with a fresh UUID) first
		uuid    func(m tiers.Marker) string
		wantErr string // "" when init must succeed
	}{
		{"matching marker", true, func(m tiers.Marker) string { return m.UUID }, ""},
		{"no marker", false, func(tiers.Marker) string { return pinned }, "has no marker: is its filesystem mounted?"},
		{"other marker", true, func(tiers.Marker) string { return pinned }, "pins uuid " + pinned + " but"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var m tiers.Marker
			if tt.marker {
				var err error
				if m, err = tiers.WriteMarker(dir, "slow"); err != nil {
					t.Fatal(err)
				}
			}
			cfg := filepath.Join(t.TempDir(), "tierfs.toml")
			text := "[[tier]]\nname = \"slow\"\npath = \"" + dir + "\"\nkind = \"nfs\"\nuuid = \"" + tt.uuid(m) + "\"\n[[rule]]\nmatch = \"**\"\ntier = \"slow\"\n"
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := runInit(context.Background(), []string{"--config", cfg}, &out)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), "pinned by the config") {
					t.Errorf("init = %v:\n%s", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("init = %v, want an error containing %q", err, tt.wantErr)
			}
			if got, _ := tiers.ReadMarker(dir); got != m {
				t.Errorf("init changed the marker: %+v, was %+v", got, m)
			}
		})
	}
}
