package tiers

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hostTier opens base's directory again as host's daemon would ("" for
// a daemon outside a cluster).
func hostTier(t *testing.T, base *Tier, host string) *Tier {
	t.Helper()
	spec := base.Spec
	spec.Host = host
	tr, err := Open(spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// writeState creates rel (and its directory) under dir with content body.
func writeState(t *testing.T, dir, rel, body string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// On a tier one daemon owns, state keeps its old names, so a tier
// upgraded from a tierfs without cluster mode keeps its temporaries
// found and cleared; on a shared tier each host has its own names, and
// clearing one host's temporaries leaves the others' (and the old
// unsuffixed ones) alone.
func TestStateNamePerHost(t *testing.T) {
	base := newTestTier(t, "slow")
	alone, a, b := hostTier(t, base, ""), hostTier(t, base, "a"), hostTier(t, base, "b")
	for _, tc := range []struct {
		tier *Tier
		want string
	}{{alone, ".tierfs-moving"}, {a, ".tierfs-moving.a"}, {b, ".tierfs-moving.b"}} {
		if got := tc.tier.MovingName(); got != tc.want {
			t.Errorf("host %q: MovingName = %q, want %q", tc.tier.Host, got, tc.want)
		}
	}

	old := writeState(t, base.Path, ".tierfs-moving/0123456789abcdef", "before the upgrade")
	if err := alone.ClearMoving(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unsuffixed temporary on a tier one daemon owns was not cleared: %v", err)
	}

	old = writeState(t, base.Path, ".tierfs-moving/0123456789abcdef", "before the cluster")
	ofA := writeState(t, base.Path, ".tierfs-moving.a/1", "a's")
	ofB := writeState(t, base.Path, ".tierfs-moving.b/2", "b's")
	if err := os.Mkdir(filepath.Join(base.Path, ".tierfs-moving.b/dir-3"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := a.ClearMoving(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{ofA: false, ofB: true, old: true, filepath.Join(base.Path, ".tierfs-moving.b/dir-3"): true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("after host a cleared its temporaries, %s: %v, want it there: %v", p, err, want)
		}
	}

	hs, err := a.HostStates(MovingDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostState{{"a", ".tierfs-moving.a"}, {"", ".tierfs-moving"}, {"b", ".tierfs-moving.b"}}
	if !slices.Equal(hs, want) {
		t.Errorf("HostStates as host a = %v, want %v (its own first)", hs, want)
	}
}

// A copy to a shared tier puts its temporary in this host's directory.
func TestCopyToTempPerHost(t *testing.T) {
	src := newTestTier(t, "fast")
	dst := hostTier(t, newTestTier(t, "slow"), "b")
	writeState(t, src.Path, "m", "mail")
	if err := dst.Mkdir(dst.MovingName(), 0o700, nil); err != nil {
		t.Fatal(err)
	}
	copied, _, err := CopyToTemp(src, dst, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := copied.Path
	if !strings.HasPrefix(tmp, ".tierfs-moving.b/") {
		t.Errorf("temporary %s, want it under .tierfs-moving.b", tmp)
	}
	var st unix.Stat_t
	if err := dst.Lstat(tmp, &st); err != nil || st.Ino != copied.Ino {
		t.Errorf("temporary's inode number %d, want %d as on the tier (%v)", copied.Ino, st.Ino, err)
	}
	if err := dst.RemoveTemp(dst.MovingName(), strings.TrimPrefix(tmp, ".tierfs-moving.b/")); err != nil {
		t.Errorf("RemoveTemp: %v", err)
	}
	if _, err := dst.ReadFile(tmp, 100); !errors.Is(err, unix.ENOENT) {
		t.Errorf("temporary after RemoveTemp: %v", err)
	}
}

// Each host keeps its own members file on a shared tier; a host that
// has written none yet reads the one of the daemon that served the tier
// before it became shared; a tier one daemon owns keeps the old name.
func TestMembersPerHost(t *testing.T) {
	base := newTestTier(t, "slow")
	alone, a, b := hostTier(t, base, ""), hostTier(t, base, "a"), hostTier(t, base, "b")
	before := []Member{{Name: "slow", UUID: "u-slow"}, {Name: "old", UUID: "u-old"}}
	if err := alone.WriteMembers(before); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base.Path, MembersName)); err != nil {
		t.Fatalf("members file of a tier one daemon owns: %v", err)
	}
	if got, err := a.ReadMembers(); err != nil || !slices.Equal(got, before) {
		t.Errorf("host a before its first mount reads %v, %v; want the unsuffixed file's %v", got, err, before)
	}
	ofA := []Member{{Name: "slow", UUID: "u-slow"}, {Name: "fast", UUID: "u-fast"}}
	ofB := []Member{{Name: "slow", UUID: "u-slow"}}
	if err := a.WriteMembers(ofA); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMembers(ofB); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tier *Tier
		want []Member
	}{{a, ofA}, {b, ofB}, {alone, before}} {
		if got, err := tc.tier.ReadMembers(); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("host %q reads members %v, %v; want %v", tc.tier.Host, got, err, tc.want)
		}
	}
}

// A repair locks a shared tier exclusively: refused, naming every host
// whose daemon holds it, while any does, and holding every host off
// while it runs. A host lock file left by a daemon that exited does not
// count as a holder.
func TestLockExclusiveShared(t *testing.T) {
	base := newTestTier(t, "slow")
	a, b, gone, repair := hostTier(t, base, "a"), hostTier(t, base, "b"), hostTier(t, base, "c"), hostTier(t, base, "b")
	for _, tr := range []*Tier{gone, a, b} {
		if err := tr.Lock(); err != nil {
			t.Fatal(err)
		}
	}
	gone.Close()
	err := repair.LockExclusive()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("LockExclusive with hosts a and b mounted = %v, want ErrLocked", err)
	}
	for _, want := range []string{"host a (pid", "host b (pid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LockExclusive = %q, want it to name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "host c") {
		t.Errorf("LockExclusive = %q names host c, whose daemon is gone", err)
	}
	a.Close()
	if err := repair.LockExclusive(); err == nil || !strings.Contains(err.Error(), "host b") || strings.Contains(err.Error(), "host a") {
		t.Fatalf("LockExclusive with host b mounted = %v, want it refused naming b only", err)
	}
	b.Close()
	if err := repair.LockExclusive(); err != nil {
		t.Fatalf("LockExclusive with no host mounted: %v", err)
	}
	if err := hostTier(t, base, "a").Lock(); !errors.Is(err, ErrLocked) {
		t.Errorf("host a mounting during a repair: %v, want ErrLocked", err)
	}
}
