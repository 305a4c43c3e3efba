package main

import (
	"strings"
	"testing"

	"github.com/tierfs/tierfs/config"
)

// A reload may change a tier's min_free and target_free (thresholds on
// the space samples), not its name, path, kind or uuid; a refusal shows
// what differs.
func TestSameTiers(t *testing.T) {
	fast := config.Tier{Name: "fast", Path: "/srv/fast", Kind: "local"}
	tests := []struct {
		name   string
		edit   func(*config.Tier)
		refuse string // "" when the reload may go ahead
	}{
		{"same", func(*config.Tier) {}, ""},
		{"min_free and target_free", func(t *config.Tier) {
			t.MinFree, t.TargetFree = config.Reserve{Percent: 5}, config.Reserve{Percent: 10}
		}, ""},
		{"path", func(t *config.Tier) { t.Path = "/srv/other" }, "file: fast=/srv/other(local)"},
		{"kind", func(t *config.Tier) { t.Kind = "nfs" }, "file: fast=/srv/fast(nfs)"},
		{"uuid", func(t *config.Tier) { t.UUID = "27fa9dd7-7afa-4398-b1c7-b729d829c4b1" }, "file: fast=/srv/fast(local)[uuid 27fa9dd7-7afa-4398-b1c7-b729d829c4b1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := fast
			tt.edit(&next)
			old := &config.Config{Source: "a.toml", Tiers: []config.Tier{fast}}
			err := sameTiers(old, &config.Config{Source: "a.toml", Tiers: []config.Tier{next}})
			switch {
			case tt.refuse == "" && err != nil:
				t.Errorf("sameTiers = %v, want the reload to go ahead", err)
			case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
				t.Errorf("sameTiers = %v, want a refusal naming %q", err, tt.refuse)
			}
		})
	}
}
