package main

import (
	"strings"
	"testing"

	"github.com/tierfs/tierfs/config"
)

// A reload that changes only a tier's min_free is refused (the tiers
// read it without locks), and the refusal shows what differs.
func TestSameTiersSpace(t *testing.T) {
	old := &config.Config{Source: "a.toml", Tiers: []config.Tier{{Name: "fast", Path: "/srv/fast", Kind: "local"}}}
	cfg := &config.Config{Source: "a.toml", Tiers: []config.Tier{{Name: "fast", Path: "/srv/fast", Kind: "local",
		MinFree: config.Reserve{Percent: 5}, TargetFree: config.Reserve{Percent: 10}}}}
	err := sameTiers(old, cfg)
	if err == nil || !strings.Contains(err.Error(), "file: fast=/srv/fast(local)[min_free 5%, target_free 10%]") {
		t.Errorf("sameTiers = %v, want a refusal naming the new min_free and target_free", err)
	}
	if err := sameTiers(cfg, cfg); err != nil {
		t.Errorf("sameTiers of equal tiers = %v", err)
	}
}
