package integration

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// clockWarning is the daemon's warning about an nfs tier's clock.
const clockWarning = `msg="the NFS server's clock is off from this host's`

// clockConfig is the default layout with slow an nfs tier on the NFS
// emulation, whose server clock is offset ahead of this host's.
func clockConfig(offset time.Duration) fsConfig {
	cfg := defaultConfig()
	cfg.Tiers[2].Kind, cfg.Tiers[2].Backing, cfg.Tiers[2].ClockOffset = "nfs", "nfs", offset
	return cfg
}

// waitClockSkew waits until tierfs status reports slow's clock skew.
func waitClockSkew(t *testing.T, f *fixture) float64 {
	t.Helper()
	for deadline := time.Now().Add(mountWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st := markerTierStatus(t, f, "slow"); st.ClockSkew != nil {
			return *st.ClockSkew
		}
	}
	t.Fatalf("tierfs status shows no clock skew for slow within %v\n%s", mountWait, f.d.log())
	return 0
}

// An nfs tier whose server's clock is 90 s ahead shows a skew of about
// 90 s in tierfs status (text and JSON) and in the metrics, and the log
// warns; with the clocks in step, the skew is under a second and
// nothing warns. Local tiers are not measured. The mount goes on either
// way.
func TestClockSkewNFS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration
		warn   bool
	}{
		{"ahead-90s", 90 * time.Second, true},
		{"behind-90s", -90 * time.Second, true},
		{"in-step", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, sock := mountConfigWithMetrics(t, clockConfig(tc.offset))
			want := tc.offset.Seconds()
			if got := waitClockSkew(t, f); math.Abs(got-want) > 1 {
				t.Errorf("status: slow's clock skew %.3f s, want %.0f ± 1", got, want)
			}
			if st := markerTierStatus(t, f, "fast"); st.ClockSkew != nil {
				t.Errorf("status: local tier fast has a clock skew (%v)", *st.ClockSkew)
			}
			m := opsScrape(t, sock)
			if got, ok := m[`tierfs_tier_clock_skew_seconds{tier="slow"}`]; !ok || math.Abs(got-want) > 1 {
				t.Errorf("metric tierfs_tier_clock_skew_seconds{tier=\"slow\"} = %v (present %v), want %.0f ± 1", got, ok, want)
			}
			if _, ok := m[`tierfs_tier_clock_skew_seconds{tier="fast"}`]; ok {
				t.Error("metric tierfs_tier_clock_skew_seconds for local tier fast")
			}
			text, err := f.run("status", f.mnt)
			if err != nil || !strings.Contains(text, "clock: tier slow: server clock") || strings.Contains(text, "WARNING") != tc.warn {
				t.Errorf("tierfs status (%v), want slow's clock shown, a warning: %v:\n%s", err, tc.warn, text)
			}
			t.Logf("tierfs status:\n%s", text)
			log := opsWaitLog(t, f.d, "tier=slow skew_seconds=", 1)
			if got := strings.Contains(log, clockWarning); got != tc.warn {
				t.Errorf("daemon log warns about the clock: %v, want %v:\n%s", got, tc.warn, log)
			}
			f.mkdirAll(t, "mail/u/cur")
			f.writeFile(t, "mail/u/cur/1", "on slow")
			f.requireOnTier(t, "mail/u/cur/1", "slow")
		})
	}
}

// The daemon killed between the creation of its clock probe's temporary
// on the nfs tier and its removal leaves the temporary in the tier's
// .tierfs-moving; the next mount clears it and measures again, and
// nothing else changed.
func TestCrashDuringClockProbe(t *testing.T) {
	f := mountTierfs(t, clockConfig(0))
	f.mkdirAll(t, "mail/u/cur")
	f.writeFile(t, "mail/u/cur/1", "on slow")
	f.requireOnTier(t, "mail/u/cur/1", "slow")
	f.unmount(t)
	f.mount(t, crashPointEnv+"=clock-probe-created")
	mvWaitKilled(t, f)
	left := readdirNames(t, f.tierPath("slow", ".tierfs-moving"))
	if len(left) != 1 || !strings.HasPrefix(left[0], "clock-") {
		t.Fatalf("premise: after the crash slow's .tierfs-moving should hold the probe's temporary, holds %q", left)
	}
	f.mount(t)
	waitClockSkew(t, f)
	for _, name := range readdirNames(t, f.tierPath("slow", ".tierfs-moving")) {
		if name == left[0] {
			t.Errorf("the temporary %s left by the crash is still there after a mount", name)
		}
	}
	mustContent(t, f.path("mail/u/cur/1"), "on slow")
	f.requireOnTier(t, "mail/u/cur/1", "slow")
	f.unmount(t)
	out, _ := mvCheck(t, f, "--config", f.cfgPath)
	if bad := checkProblems(out, f); len(bad) > 0 {
		t.Errorf("tierfs check after the crash and a mount: %q\n%s", bad, out)
	}
	if _, err := os.Stat(f.tierPath("slow", ".tierfs-moving/"+left[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary left by the crash: %v, want gone", err)
	}
}
