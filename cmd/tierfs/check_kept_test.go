package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// check on shared tiers, as host a, reports every host's kept links
// naming the host and whether it is live: host b's heartbeat is an hour
// old (dead), host c's current (live: its links are in use, no
// problem). --repair, with no host mounted, removes them all. On the
// old code check said nothing of them.
func TestCheckKeptLinksOfHosts(t *testing.T) {
	base := t.TempDir()
	dirs := map[string]string{"tmp": filepath.Join(shmDir(t), "tmp"), "fast": filepath.Join(base, "fast"), "slow": filepath.Join(base, "slow")}
	cfg := sharedCheckFixture(t, "a", dirs)
	for host, at := range map[string]time.Time{"b": time.Now().Add(-time.Hour), "c": time.Now()} {
		put(t, dirs["fast"], ".tierfs-cluster/hosts/"+host, fmt.Sprintf("%s 7 %d\n", host, at.UnixNano()))
		put(t, dirs["fast"], ".tierfs-replaced."+host+"/00000000000000"+host+host, "kept by "+host)
	}

	var out bytes.Buffer
	err := runCheck(context.Background(), []string{"--config", cfg}, &out)
	for _, want := range []string{
		"kept: fast:.tierfs-replaced.b, 1 links kept for files replaced while open, of host b (dead) (each keeps its file",
		"kept: fast:.tierfs-replaced.c, 1 links kept for files replaced while open, of host c (live) [in use",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plain check: want %q in:\n%s", want, out.String())
		}
	}
	if err == nil || !strings.Contains(err.Error(), "1 problems") {
		t.Errorf("plain check = %v, want it to fail for b's links only", err)
	}

	out.Reset()
	err = runCheck(context.Background(), []string{"--config", cfg, "--repair"}, &out)
	if err != nil {
		t.Errorf("check --repair = %v\n%s", err, out.String())
	}
	for _, host := range []string{"b", "c"} {
		want := "kept: fast:.tierfs-replaced." + host + ", 1 links kept for files replaced while open, of host " + host
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "[repaired: removed]") {
			t.Errorf("check --repair: want %q removed in:\n%s", want, out.String())
		}
		if _, err := os.Stat(filepath.Join(dirs["fast"], ".tierfs-replaced."+host)); !os.IsNotExist(err) {
			t.Errorf("host %s's kept links after the repair: %v", host, err)
		}
	}
}
