package integration

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestOpsStatus checks what `tierfs status` prints for a running mount.
func TestOpsStatus(t *testing.T) {
	f := mountTierfs(t, defaultConfig())
	for _, p := range []string{"volatile/u", "index/u", "mail/u/cur"} {
		f.mkdirAll(t, p)
	}
	f.writeFile(t, "volatile/u/a", "a")
	f.writeFile(t, "index/u/b", "b")
	f.writeFile(t, "mail/u/cur/c", "c")

	out, err := exec.Command(f.bin, "status", f.mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("tierfs status %s: %v\n%s", f.mnt, err, out)
	}
	text := string(out)
	want := []string{
		fmt.Sprintf("%s: tierfs pid %d, up ", f.mnt, f.d.cmd.Process.Pid),
		", config " + f.cfgPath + "\n",
		"TIER  KIND   HEALTH  USED",
		"CREATE 3",
		"MKDIR ",
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("status output lacks %q:\n%s", w, text)
		}
	}
	for _, tier := range []struct{ name, kind string }{{"tmp", "tmpfs"}, {"fast", "local"}, {"slow", "local"}} {
		re := regexp.MustCompile(`(?m)^  ` + tier.name + `\s+` + tier.kind + `\s+up\s+\S+ \S*B\s+\S+ \S*B\s+\S+ \S*B\s+\d+\s+\d+\s+` + regexp.QuoteMeta(f.tiers[tier.name]) + `$`)
		if !re.MatchString(text) {
			t.Errorf("status output has no line for tier %s (%s, up, space, files, path):\n%s", tier.name, tier.kind, text)
		}
	}
	if !regexp.MustCompile(`cache: \d+ hits, \d+ misses \(`).MatchString(text) {
		t.Errorf("status output lacks the cache line:\n%s", text)
	}
	if !regexp.MustCompile(`directories: \d+ cached, \d+ walked \(`).MatchString(text) {
		t.Errorf("status output lacks the directories line:\n%s", text)
	}

	// The JSON form carries the same numbers.
	st := opsStatusJSON(t, f.bin, f.mnt)
	if st.PID != f.d.cmd.Process.Pid || st.Requests["CREATE"] != 3 || len(st.Tiers) != 3 || st.Tiers[0].Name != "tmp" || !st.Tiers[0].Up {
		t.Errorf("status --json: %+v", st)
	}
	// Each of the three files was created in a directory below its
	// tier's root, which the first call there had to walk to.
	if calls, misses := st.backendCalls(); misses == 0 || calls < 3 {
		t.Errorf("directory descriptors: %d backend calls below a tier root, %d walked; want at least 3, some walked", calls, misses)
	}

	// Without arguments it reports every tierfs mount, ours included.
	// Other tierfs mounts on the machine (other tests) may not answer,
	// so only the output is checked.
	out, _ = exec.Command(f.bin, "status").CombinedOutput()
	if !strings.Contains(string(out), fmt.Sprintf("%s: tierfs pid %d", f.mnt, f.d.cmd.Process.Pid)) {
		t.Errorf("tierfs status (all mounts) lacks %s:\n%s", f.mnt, out)
	}

	// A directory that is not a tierfs mount is an error that says so.
	out, err = exec.Command(f.bin, "status", f.base).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no tierfs daemon answers") {
		t.Errorf("tierfs status %s: %v\n%s", f.base, err, out)
	}
}

// TestOpsWhere checks `tierfs where` against the tiers' own directories.
func TestOpsWhere(t *testing.T) {
	f := mountTierfs(t, defaultConfig())
	for _, p := range []string{"volatile/u", "index/u", "mail/u/cur", "span/d"} {
		f.mkdirAll(t, p)
	}
	files := []string{"volatile/u/lock", "index/u/dovecot.index", "mail/u/cur/1.M1"}
	for _, p := range files {
		f.writeFile(t, p, p)
	}
	seedSpanning(t, f, "span/d")

	rels := append(files, "span/d", "span/d/seed.slow")
	args := []string{"where"}
	for _, r := range rels {
		args = append(args, f.path(r))
	}
	out, err := exec.Command(f.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tierfs where: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(rels) {
		t.Fatalf("tierfs where printed %d lines for %d paths:\n%s", len(lines), len(rels), out)
	}
	for i, r := range rels {
		want := strings.Join(f.tiersHolding(r), ",")
		fields := strings.Fields(lines[i])
		if len(fields) != 2 || fields[0] != f.path(r) || fields[1] != want {
			t.Errorf("line %d = %q, want %s and %s (from the tier directories)", i, lines[i], f.path(r), want)
		}
	}
	if !strings.Contains(string(out), "tmp,fast,slow") {
		t.Errorf("the spanning directory is not reported on all three tiers:\n%s", out)
	}

	// A path outside any tierfs mount fails and says why; the good paths
	// before it are still printed.
	out, err = exec.Command(f.bin, "where", f.path(files[1]), f.base).CombinedOutput()
	if err == nil || !strings.Contains(string(out), f.base+": not in a tierfs mount") ||
		!strings.Contains(string(out), f.path(files[1])) {
		t.Errorf("tierfs where outside a mount: %v\n%s", err, out)
	}
	out, err = exec.Command(f.bin, "where", f.path("index/u/none")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such file or directory") {
		t.Errorf("tierfs where on a missing file: %v\n%s", err, out)
	}
}
