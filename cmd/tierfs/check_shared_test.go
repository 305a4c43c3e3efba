package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

// sharedCheckFixture writes host's config of a cluster: a tmpfs tier
// (absent, under /dev/shm) and the marked shared tiers fast and slow,
// everything placed on fast. It returns the config's path and the tier
// directories by name.
func sharedCheckFixture(t *testing.T, host string, dirs map[string]string) string {
	t.Helper()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[[tier]]\nname = \"tmp\"\npath = %q\nkind = \"tmpfs\"\n\n", dirs["tmp"])
	for _, name := range []string{"fast", "slow"} {
		if err := os.MkdirAll(dirs[name], 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := tiers.WriteMarker(dirs[name], name); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "[[tier]]\nname = %q\npath = %q\nkind = \"local\"\nshared = true\n\n", name, dirs[name])
	}
	fmt.Fprintf(&cfg, "[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n\n[cluster]\nhost = %q\n", host)
	path := filepath.Join(t.TempDir(), "tierfs.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// put writes body at rel under dir, making its directories.
func put(t *testing.T, dir, rel, body string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// check on shared tiers, as host a, with state of hosts a and b on
// them: a plain check reports both hosts' temporaries and intents,
// naming b's as b's. --repair is refused, naming host b, while b's
// daemon holds the tiers. Once no host is mounted it replays only a's
// journal, removes every host's temporaries (no host's daemon runs,
// and a temporary is never a file's only copy), leaves b's intent and
// the names it changes for b, and fails, saying b must finish it.
func TestCheckSharedTiers(t *testing.T) {
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shmDir(t), "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	cfg := sharedCheckFixture(t, "a", dirs)
	ownTemp := put(t, dirs["slow"], ".tierfs-moving.a/0000000000000001", "a's copy")
	bTemp := put(t, dirs["slow"], ".tierfs-moving.b/0000000000000002", "b's copy")
	put(t, dirs["fast"], "d1/keep", "x")
	put(t, dirs["fast"], ".tierfs-journal.a/00000000000000aa.json", `{"op":"rename-dir","from":"d1","to":"d2","tiers":["fast"]}`)
	put(t, dirs["fast"], "e1/keep", "x")
	bIntent := put(t, dirs["fast"], ".tierfs-journal.b/00000000000000bb.json", `{"op":"rename-dir","from":"e1","to":"e2","tiers":["fast"]}`)
	// e1/m on two tiers: a repair would settle it, but b's replay
	// changes e1, so it is left for b.
	put(t, dirs["fast"], "e1/m", "same")
	put(t, dirs["slow"], "e1/m", "same")

	var out bytes.Buffer
	err := runCheck(context.Background(), []string{"--config", cfg}, &out)
	for _, want := range []string{
		"leftover: slow:.tierfs-moving.a/0000000000000001, the temporary of an interrupted move (",
		"leftover: slow:.tierfs-moving.b/0000000000000002, the temporary of an interrupted move, of host b (",
		"journal: fast:.tierfs-journal.a/00000000000000aa.json, an unfinished multi-tier change (",
		"journal: fast:.tierfs-journal.b/00000000000000bb.json, an unfinished multi-tier change of host b (host b's next mount",
	} {
		if err == nil || !strings.Contains(out.String(), want) {
			t.Errorf("plain check = %v, want %q in:\n%s", err, want, out.String())
		}
	}

	bDaemon, err := tiers.Open(tiers.Spec{Name: "slow", Path: dirs["slow"], Kind: tiers.KindLocal, Host: "b"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer bDaemon.Close()
	if err := bDaemon.Lock(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	if err == nil || !strings.Contains(err.Error(), "mounted by host b (pid") {
		t.Errorf("check --repair while host b is mounted = %v, want it refused naming host b", err)
	}
	for _, p := range []string{ownTemp, bTemp, filepath.Join(dirs["fast"], "d1")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a refused repair changed %s: %v", p, err)
		}
	}
	bDaemon.Close()

	out.Reset()
	err = runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	for _, want := range []string{
		"journal: rename-dir d1 -> d2 on fast [repaired: finished as the mount would]",
		"leftover: slow:.tierfs-moving.b/0000000000000002, the temporary of an interrupted move, of host b [repaired: removed]",
		"journal: fast:.tierfs-journal.b/00000000000000bb.json, an unfinished multi-tier change of host b (",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check --repair with no host mounted: want %q in:\n%s", want, out.String())
		}
	}
	if err == nil || !strings.Contains(err.Error(), "problems remain") {
		t.Errorf("check --repair with host b's intent left = %v, want it to fail", err)
	}
	exist := map[string]bool{ownTemp: false, bTemp: false, bIntent: true,
		filepath.Join(dirs["fast"], "d2/keep"): true, filepath.Join(dirs["fast"], "d1"): false,
		filepath.Join(dirs["fast"], "e1/m"): true, filepath.Join(dirs["slow"], "e1/m"): true}
	for p, want := range exist {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("after the repair, %s: %v, want it there: %v", p, err, want)
		}
	}
}

// init as a second host of the cluster verifies the markers the first
// host wrote on the shared tiers and keeps them (same UUIDs), and
// refuses a tier marked as another one.
func TestInitSecondHost(t *testing.T) {
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shmDir(t), "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	sharedCheckFixture(t, "a", dirs) // marks fast and slow, as host a's init would
	cfgB := sharedCheckFixture(t, "b", dirs)
	before, err := tiers.ReadMarker(dirs["slow"])
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runInit(context.Background(), []string{"--config", cfgB}, &out); err != nil {
		t.Fatalf("init as host b: %v\n%s", err, out.String())
	}
	after, err := tiers.ReadMarker(dirs["slow"])
	if err != nil || after != before || !strings.Contains(out.String(), "marked (uuid "+before.UUID) {
		t.Errorf("init as host b: marker %+v, %v; was %+v; output:\n%s", after, err, before, out.String())
	}
	if err := os.Remove(filepath.Join(dirs["slow"], tiers.MarkerName)); err != nil {
		t.Fatal(err)
	}
	if _, err := tiers.WriteMarker(dirs["slow"], "other"); err != nil {
		t.Fatal(err)
	}
	if err := runInit(context.Background(), []string{"--config", cfgB}, &out); err == nil || !strings.Contains(err.Error(), `already belongs to tier "other"`) {
		t.Errorf("init as host b on a tier marked as another = %v, want it refused", err)
	}
}

// init --forget as host a forgets a removed tier in a's members files
// only: host b's config may still have it, and b's files keep it.
func TestInitForgetPerHost(t *testing.T) {
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shmDir(t), "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	cfgA := sharedCheckFixture(t, "a", dirs)
	ms := []tiers.Member{{Name: "old", UUID: "u3"}}
	for _, name := range []string{"fast", "slow"} {
		m, err := tiers.ReadMarker(dirs[name])
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, tiers.Member{Name: name, UUID: m.UUID, Path: dirs[name]})
	}
	for _, host := range []string{"a", "b"} {
		for _, name := range []string{"fast", "slow"} {
			tr, err := tiers.Open(tiers.Spec{Name: name, Path: dirs[name], Kind: tiers.KindLocal, Host: host}, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = tr.WriteMembers(ms)
			tr.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var out bytes.Buffer
	if err := runInit(context.Background(), []string{"--config", cfgA, "--forget", "old"}, &out); err != nil {
		t.Fatalf("init --forget old as host a: %v\n%s", err, out.String())
	}
	for _, name := range []string{"fast", "slow"} {
		for host, want := range map[string]bool{"a": false, "b": true} {
			b, err := os.ReadFile(filepath.Join(dirs[name], tiers.MembersName+"."+host))
			if err != nil || strings.Contains(string(b), `"old"`) != want {
				t.Errorf("%s: host %s's members after a forgot old: %v\n%s", name, host, err, b)
			}
		}
	}
	// The mount's retired-tier check reads this host's files.
	for host, want := range map[string]int{"a": 0, "b": 1} {
		var ts []*tiers.Tier
		for i, name := range []string{"fast", "slow"} {
			tr, err := tiers.Open(tiers.Spec{Name: name, Path: dirs[name], Kind: tiers.KindLocal, Host: host}, i)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			ts = append(ts, tr)
		}
		if got, err := retiredTiers(ts); err != nil || len(got) != want {
			t.Errorf("host %s: retired tiers %v, %v; want %d", host, got, err, want)
		}
	}
}
