package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

// A tier pinned by uuid in the config is refused when its directory
// carries a marker of the right name but another UUID: what an old
// marker on the bare directory under an unmounted NFS export looks like.
// The real tier, back in place, mounts again.
func TestFailClosedPinnedUUID(t *testing.T) {
	cfg := defaultConfig()
	f := prepareFixture(t, &cfg)
	f.writeConfig(t, cfg.toml())
	if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir); err != nil {
		t.Fatalf("tierfs init: %v\n%s", err, out)
	}
	m, err := tiers.ReadMarker(f.tiers["slow"])
	if err != nil {
		t.Fatal(err)
	}
	f.writeConfig(t, strings.Replace(cfg.toml(), "name = \"slow\"\n", "name = \"slow\"\nuuid = \""+m.UUID+"\"\n", 1))
	f.mount(t)
	f.mkdirAll(t, "mail/u/cur")
	f.writeFile(t, "mail/u/cur/1", "old mail")
	f.requireOnTier(t, "mail/u/cur/1", "slow")
	f.unmount(t)

	// The export goes away; under it is a directory someone once ran
	// tierfs init on.
	slow := f.tiers["slow"]
	if err := os.Rename(slow, slow+".export"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(slow, 0o755); err != nil {
		t.Fatal(err)
	}
	bare, err := tiers.WriteMarker(slow, "slow")
	if err != nil {
		t.Fatal(err)
	}
	mountRefused(t, f, true, `tier "slow"`, "carries marker uuid "+bare.UUID, "the config pins uuid "+m.UUID)

	if err := os.RemoveAll(slow); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(slow+".export", slow); err != nil {
		t.Fatal(err)
	}
	f.mount(t)
	mustContent(t, f.path("mail/u/cur/1"), "old mail")
}
