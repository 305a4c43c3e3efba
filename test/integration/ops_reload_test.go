package integration

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// opsReloadConfig is the default three tiers with new/** sent to tier.
func opsReloadConfig(tier string) fsConfig {
	c := defaultConfig()
	c.Rules = append([]ruleSpec{{"new/**", tier}}, c.Rules...)
	return c
}

// TestOpsReload changes the rules of a mounted filesystem with SIGHUP and
// with `tierfs reload`, and checks, in the tiers' own directories, where
// the next new file lands; a broken config or one that changes the tiers
// keeps the old rules.
func TestOpsReload(t *testing.T) {
	cfg := opsReloadConfig("fast")
	f := prepareFixture(t, &cfg)
	f.writeConfig(t, cfg.toml())
	if out, err := f.run("init", "--config", f.cfgPath); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	f.mount(t)
	d := f.d
	f.mkdirAll(t, "new")
	f.writeFile(t, "new/a", "a")
	f.requireOnTier(t, "new/a", "fast")

	hup := func(n int, want string) string {
		t.Helper()
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return opsWaitLog(t, d, want, n)
	}

	// A changed rule: the next new file follows it, old files stay.
	next := opsReloadConfig("slow")
	next.Tiers = cfg.Tiers
	f.writeConfig(t, next.toml())
	hup(1, "msg=reloaded")
	f.writeFile(t, "new/b", "b")
	f.requireOnTier(t, "new/b", "slow")
	f.requireOnTier(t, "new/a", "fast")

	// A broken config: the old (new → slow) rules stay, the error is logged
	// with the field.
	broken := opsReloadConfig("nope")
	broken.Tiers = cfg.Tiers
	f.writeConfig(t, broken.toml())
	log := hup(1, "reload failed; keeping the old rules")
	if !strings.Contains(log, "rule[1].tier") || !strings.Contains(log, `\"nope\" is not a tier`) {
		t.Errorf("reload error does not name the field and reason:\n%s", log)
	}
	f.writeFile(t, "new/c", "c")
	f.requireOnTier(t, "new/c", "slow")

	// Changed tiers are refused, over the control socket, with the reason.
	renamed := opsReloadConfig("tmp")
	renamed.Tiers = append([]tierSpec(nil), cfg.Tiers...)
	renamed.Tiers[2].Name = "slow2"
	for i, r := range renamed.Rules {
		if r.Tier == "slow" {
			renamed.Rules[i].Tier = "slow2"
		}
	}
	f.writeConfig(t, renamed.toml())
	out, err := exec.Command(f.bin, "reload", f.mnt).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "tiers cannot change while mounted") ||
		!strings.Contains(string(out), "keeping the old rules") {
		t.Errorf("tierfs reload with renamed tier: %v\n%s", err, out)
	}
	f.writeFile(t, "new/d", "d")
	f.requireOnTier(t, "new/d", "slow")

	// A good config through `tierfs reload`, which waits for the answer.
	tmp := opsReloadConfig("tmp")
	tmp.Tiers = cfg.Tiers
	f.writeConfig(t, tmp.toml())
	out, err = exec.Command(f.bin, "reload", f.mnt).CombinedOutput()
	if err != nil || !strings.Contains(string(out), f.mnt+": reloaded "+f.cfgPath+" (7 rules)") {
		t.Fatalf("tierfs reload: %v\n%s", err, out)
	}
	f.writeFile(t, "new/e", "e")
	f.requireOnTier(t, "new/e", "tmp")

	// Every file is still readable where it was put.
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if got, err := os.ReadFile(f.path("new/" + n)); err != nil || string(got) != n {
			t.Errorf("new/%s: %q, %v", n, got, err)
		}
	}
}
