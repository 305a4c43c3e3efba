package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Two hosts of one cluster on this machine: each its own tierfs mount
// and tmpfs tier, both sharing the persistent tiers fast and slow
// (plain directories). The kernel caches entries for an hour, so that a
// test sees it when tierfs leaves a stale entry behind after a lease
// went to the other host.

// clusterOpts are the [cluster] timings of a test.
type clusterOpts struct {
	releaseAfter, leaseWait string
	sharedTimeout           string // [cluster] shared_timeout; the default if ""
	rules                   string // more [[rule]] tables, before the preset's
	extra                   string // more TOML (e.g. a [mover] table)
}

func (o clusterOpts) orDefault() clusterOpts {
	if o.releaseAfter == "" {
		o.releaseAfter = "1s"
	}
	if o.leaseWait == "" {
		o.leaseWait = "1s"
	}
	return o
}

// clusterConfig renders host's configuration over the tiers of f.
func clusterConfig(f *fixture, host string, o clusterOpts) string {
	var b strings.Builder
	for _, name := range f.order {
		kind, shared := "local", "shared = true\n"
		if name == "tmp" {
			kind, shared = "tmpfs", ""
		}
		fmt.Fprintf(&b, "[[tier]]\nname = %q\npath = %s\nkind = %q\n%s\n", name, strconv.Quote(f.tiers[name]), kind, shared)
	}
	b.WriteString(o.rules + `
[[rule]]
match = "volatile/**"
tier = "tmp"

[[rule]]
match = "listindex/**"
tier = "tmp"

[[rule]]
match = "index/**"
tier = "fast"

[[rule]]
match = "mail/**"
tier = "fast"
demote_after = "1d"
demote_to = "slow"

[[rule]]
match = "**"
tier = "fast"

[kernel]
entry_timeout = "1h"
attr_timeout = "1h"
negative_timeout = "1h"

`)
	fmt.Fprintf(&b, "[cluster]\nhost = %q\nhost_timeout = \"3s\"\nrelease_after = %q\nlease_wait = %q\n", host, o.releaseAfter, o.leaseWait)
	if o.sharedTimeout != "" {
		fmt.Fprintf(&b, "shared_timeout = %q\n", o.sharedTimeout)
	}
	fmt.Fprintf(&b, "\n%s", o.extra)
	return b.String()
}

// newClusterHost prepares host name: its own tmpfs tier and, for the
// first host (shared nil), new shared tiers it initialises; a later
// host shares the first one's. It does not mount.
func newClusterHost(t testing.TB, name string, shared *fixture, o clusterOpts) *fixture {
	t.Helper()
	cfg := fsConfig{Tiers: []tierSpec{{Name: "tmp", Kind: "tmpfs"}, {Name: "fast", Kind: "local"}, {Name: "slow", Kind: "local"}}}
	if shared != nil {
		cfg.Tiers[1].Path, cfg.Tiers[2].Path = shared.tiers["fast"], shared.tiers["slow"]
	}
	f := prepareFixture(t, &cfg)
	f.writeConfig(t, clusterConfig(f, name, o.orDefault()))
	if shared == nil {
		if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir); err != nil {
			t.Fatalf("tierfs init: %v\n%s", err, out)
		}
	}
	return f
}

// twoHosts mounts hosts a and b.
func twoHosts(t testing.TB, o clusterOpts) (a, b *fixture) {
	t.Helper()
	a = newClusterHost(t, "a", nil, o)
	b = newClusterHost(t, "b", a, o)
	a.mount(t)
	b.mount(t)
	return a, b
}

// leaseFile is the lease of user ("hash/user") on the shared lease tier.
func leaseFile(f *fixture, user string) string {
	return f.tierPath("fast", ".tierfs-cluster/leases/"+user)
}

// waitLease waits until user's lease reads "HOLDER STATE ..." with the
// given holder and state.
func waitLease(t testing.TB, f *fixture, user, holder, state string) {
	t.Helper()
	want := holder + " " + state + " "
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(leaseFile(f, user))
		if strings.HasPrefix(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of %s is %q, want %q…", user, data, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireErrno fails unless err carries errno want.
func requireErrno(t testing.TB, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// A file written through host a is read through host b once a's lease
// is released (no remount), with its content and mtime; while a holds
// the user (a file open), b's stat, open and mkdir beneath the user fail
// with EIO; a expunge on b is seen on a afterwards, though a's kernel
// may cache entries for an hour: a's release dropped them.
func TestClusterLeaseHandover(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{})
	// A user's directory b found missing is found once a made it: the
	// kernel keeps no negative entry of it (negative_timeout is 1h).
	a.mkdirAll(t, "mail/ab")
	_, err := os.Stat(b.path("mail/ab/carol"))
	requireErrno(t, "stat on b of a user nobody served yet", err, syscall.ENOENT)
	waitLease(t, a, "ab/carol", "b", "free")
	a.mkdirAll(t, "mail/ab/carol/cur")
	waitLease(t, a, "ab/carol", "a", "free")
	if fi, err := os.Stat(b.path("mail/ab/carol/cur")); err != nil || !fi.IsDir() {
		t.Fatalf("stat on b of the user a made: %v", err)
	}

	a.mkdirAll(t, "mail/ab/alice/cur")
	a.writeFile(t, "mail/ab/alice/cur/1", "message one")
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	if err := os.Chtimes(a.path("mail/ab/alice/cur/1"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.path("mail/ab/alice/cur/1")); err != nil { // cached in a's kernel
		t.Fatal(err)
	}
	held, err := os.Open(a.path("mail/ab/alice/cur/1"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past release_after: only the open file keeps the lease
	waitLease(t, a, "ab/alice", "a", "held")

	_, err = os.Stat(b.path("mail/ab/alice/cur/1"))
	requireErrno(t, "stat on b while a holds the user", err, syscall.EIO)
	_, err = os.Open(b.path("mail/ab/alice/cur/1"))
	requireErrno(t, "open on b while a holds the user", err, syscall.EIO)
	err = os.Mkdir(b.path("mail/ab/alice/new"), 0o755)
	requireErrno(t, "mkdir on b while a holds the user", err, syscall.EIO)
	if !strings.Contains(b.d.log(), "cannot take the user's lease") || !strings.Contains(b.d.log(), "user=alice") {
		t.Errorf("b logged no refused lease naming alice:\n%s", b.d.log())
	}
	// Another user is b's to serve meanwhile.
	b.mkdirAll(t, "mail/cd/bob/cur")
	b.writeFile(t, "mail/cd/bob/cur/1", "bob's")

	held.Close()
	waitLease(t, a, "ab/alice", "a", "free")
	got, err := os.ReadFile(b.path("mail/ab/alice/cur/1"))
	if err != nil || string(got) != "message one" {
		t.Fatalf("read on b after a released: %q, %v", got, err)
	}
	fi, err := os.Stat(b.path("mail/ab/alice/cur/1"))
	if err != nil || !fi.ModTime().Equal(mtime) {
		t.Fatalf("mtime on b: %v (%v), want %v", fi.ModTime(), err, mtime)
	}
	// b expunges 1 and delivers 2; a sees both once b let go.
	if err := os.Remove(b.path("mail/ab/alice/cur/1")); err != nil {
		t.Fatal(err)
	}
	b.writeFile(t, "mail/ab/alice/cur/2", "message two")
	waitLease(t, a, "ab/alice", "b", "free")
	_, err = os.Stat(a.path("mail/ab/alice/cur/1"))
	requireErrno(t, "stat on a of the message b expunged", err, syscall.ENOENT)
	if got, err := os.ReadFile(a.path("mail/ab/alice/cur/2")); err != nil || string(got) != "message two" {
		t.Fatalf("read on a of b's delivery: %q, %v", got, err)
	}
	if names := readdirNames(t, a.path("mail/ab/alice/cur")); strings.Join(names, ",") != "2" {
		t.Fatalf("a lists cur/ as %v, want [2]", names)
	}
	requireStatus(t, a, "cluster: host a", "hostchanges")
}

// requireStatus fails unless tierfs status of f shows every part.
func requireStatus(t testing.TB, f *fixture, parts ...string) {
	t.Helper()
	out, err := f.run("status", f.mnt)
	if err != nil {
		t.Fatalf("tierfs status: %v\n%s", err, out)
	}
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Fatalf("tierfs status lacks %q:\n%s", p, out)
		}
	}
}

// A's per-host state of a user (its mailbox list index on a's tmpfs
// tier) stays while nobody else served the user, and is gone, from the
// tier and the mount, once b did.
func TestClusterHostchangeDropsTmpfsState(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{})
	const list = "listindex/ab/alice/dovecot.list.index"
	a.mkdirAll(t, "listindex/ab/alice")
	a.mkdirAll(t, "mail/ab/alice/cur")
	a.writeFile(t, list, "a's list index")
	a.requireOnTier(t, list, "tmp")
	waitLease(t, a, "ab/alice", "a", "free")
	// a again: nobody else served alice, the list index stays.
	if got, err := os.ReadFile(a.path(list)); err != nil || string(got) != "a's list index" {
		t.Fatalf("a's list index after a served alice alone: %q, %v", got, err)
	}
	waitLease(t, a, "ab/alice", "a", "free")
	// b serves alice, then a again: a's list index is stale and goes.
	b.writeFile(t, "mail/ab/alice/cur/1", "via b")
	waitLease(t, a, "ab/alice", "b", "free")
	_, err := os.Stat(a.path(list))
	requireErrno(t, "a's list index after b served alice", err, syscall.ENOENT)
	if fileExists(a.tierPath("tmp", "listindex/ab/alice")) {
		t.Fatal("a's tmpfs tier still holds listindex/ab/alice after the hostchange")
	}
	if got, err := os.ReadFile(a.path("mail/ab/alice/cur/1")); err != nil || string(got) != "via b" {
		t.Fatalf("read on a of b's file: %q, %v", got, err)
	}
	if !strings.Contains(a.d.log(), "another host served the user") {
		t.Errorf("a logged no hostchange:\n%s", a.d.log())
	}
}

// Host a is killed with SIGKILL while it holds a user: b's requests fail
// with EIO while a's heartbeat is fresh, and b takes the user over once
// it is older than host_timeout.
func TestClusterHostKilledWhileHolding(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{releaseAfter: "1h"})
	a.mkdirAll(t, "mail/ab/alice/cur")
	a.writeFile(t, "mail/ab/alice/cur/1", "before the crash")
	waitLease(t, a, "ab/alice", "a", "held")
	a.d.kill()
	a.d = nil
	if out, err := exec.Command("umount", "-l", a.mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the dead mount: %v %s", err, out)
	}
	_, err := os.Stat(b.path("mail/ab/alice/cur/1"))
	requireErrno(t, "stat on b just after a died holding alice", err, syscall.EIO)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := os.ReadFile(b.path("mail/ab/alice/cur/1"))
		if err == nil {
			if string(got) != "before the crash" {
				t.Fatalf("read on b after the takeover: %q", got)
			}
			break
		}
		if !errors.Is(err, syscall.EIO) || time.Now().After(deadline) {
			t.Fatalf("read on b after a died: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitLease(t, b, "ab/alice", "b", "held")
	if !strings.Contains(b.d.log(), "taking over a user from a dead host") {
		t.Errorf("b did not log the takeover:\n%s", b.d.log())
	}
}

// clusterCrashPoints are the steps of taking a lease after another host
// served the user at which TestClusterHostchangeCrash kills host a: the
// record of the acquisition made, the protocol's own steps (the lease
// written and renamed into place before the per-host state is dropped
// are the ones that matter: a new Acquire would not name the other host
// again), and around setting the state aside.
// TIERFS_CLUSTER_CRASHPOINTS=all runs every one.
func clusterCrashPoints() []string {
	all := []string{"lease-marked", "acquire-locked", "acquire-temp", "acquire-renamed", "acquire-written",
		"hostchange-before-aside", "hostchange-after-aside"}
	if os.Getenv("TIERFS_CLUSTER_CRASHPOINTS") == "all" {
		return all
	}
	return []string{"lease-marked", "acquire-written", "hostchange-after-aside"}
}

// Host a is killed at each step of taking alice's lease after b served
// her: after a's next mount its per-host state of alice is gone (never
// served to Dovecot), its state of bob, whom nobody else served, and
// all mail are kept.
func TestClusterHostchangeCrash(t *testing.T) {
	for _, point := range clusterCrashPoints() {
		t.Run(point, func(t *testing.T) {
			a, b := twoHosts(t, clusterOpts{})
			for _, u := range []string{"ab/alice", "cd/bob"} {
				a.mkdirAll(t, "listindex/"+u)
				a.mkdirAll(t, "mail/"+u+"/cur")
				a.writeFile(t, "listindex/"+u+"/dovecot.list.index", "a's list of "+u)
				a.writeFile(t, "mail/"+u+"/cur/1", "mail of "+u)
			}
			waitLease(t, a, "ab/alice", "a", "free")
			b.writeFile(t, "mail/ab/alice/cur/2", "via b")
			waitLease(t, a, "ab/alice", "b", "free")
			a.unmount(t)
			a.mount(t, crashPointEnv+"="+point)
			d := a.d
			_, err := os.Stat(a.path("listindex/ab/alice/dovecot.list.index"))
			if err == nil {
				t.Fatalf("a served alice's stale list index at crash point %s", point)
			}
			if !d.wait(mountWait) {
				t.Fatalf("a did not die at %s (stat: %v)\n%s", point, err, d.log())
			}
			a.d = nil
			if out, err := exec.Command("umount", "-l", a.mnt).CombinedOutput(); err != nil {
				t.Fatalf("umount -l the dead mount: %v %s", err, out)
			}
			a.mount(t)
			requireHostchangeSettled(t, a)
		})
	}
}

// requireHostchangeSettled checks a after the crash: alice's state gone,
// bob's kept, every message there.
func requireHostchangeSettled(t *testing.T, a *fixture) {
	t.Helper()
	// A dotlock the crash left delays alice by up to host_timeout.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := os.Stat(a.path("listindex/ab/alice/dovecot.list.index"))
		if errors.Is(err, syscall.ENOENT) {
			break
		}
		if !errors.Is(err, syscall.EIO) || time.Now().After(deadline) {
			t.Fatalf("alice's list index on a after the crash: %v, want ENOENT", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range []string{"listindex/ab/alice", ".tierfs-acquiring/ab.alice"} {
		if fileExists(a.tierPath("tmp", p)) {
			t.Errorf("a's tmpfs tier still holds %s", p)
		}
	}
	if ents, _ := os.ReadDir(a.tierPath("tmp", ".tierfs-dropped")); len(ents) > 0 {
		time.Sleep(time.Second) // the background removal of what the hostchange set aside
		if ents, _ = os.ReadDir(a.tierPath("tmp", ".tierfs-dropped")); len(ents) > 0 {
			t.Errorf("a's tmpfs tier keeps %d set-aside directories", len(ents))
		}
	}
	for p, want := range map[string]string{
		"listindex/cd/bob/dovecot.list.index": "a's list of cd/bob",
		"mail/cd/bob/cur/1":                   "mail of cd/bob",
		"mail/ab/alice/cur/1":                 "mail of ab/alice",
		"mail/ab/alice/cur/2":                 "via b",
	} {
		if got, err := os.ReadFile(a.path(p)); err != nil || string(got) != want {
			t.Errorf("%s on a after the crash: %q, %v; want %q", p, got, err, want)
		}
	}
}

// In a cluster the mover moves a user's files only under the user's
// lease: host a takes alice's (which it does not hold) for her batch and
// releases it after, skips bob, whom b serves (a file open), and counts
// him, and leaves mail outside every per-user directory where it is.
func TestClusterMoverLeases(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{extra: "[mover]\ninterval = \"0s\"\n"})
	old := time.Now().Add(-72 * time.Hour)
	for _, p := range []string{"mail/ab/alice/cur/1", "mail/cd/bob/cur/1", "mail/stray"} {
		a.mkdirAll(t, filepath.Dir(p))
		a.writeFile(t, p, "content of "+p)
		if err := os.Chtimes(a.path(p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	waitLease(t, a, "ab/alice", "a", "free")
	waitLease(t, a, "cd/bob", "a", "free")
	held, err := os.Open(b.path("mail/cd/bob/cur/1"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A dry run on b takes no lease: alice's still names a.
	before, _ := os.ReadFile(leaseFile(a, "ab/alice"))
	if out, err := b.run("migrate", "--dry-run", b.mnt); err != nil {
		t.Fatalf("tierfs migrate --dry-run on b: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(leaseFile(a, "ab/alice")); string(after) != string(before) || !strings.HasPrefix(string(before), "a free") {
		t.Errorf("alice's lease went from %q to %q in b's dry run", before, after)
	}
	a.requireOnTier(t, "mail/ab/alice/cur/1", "fast")
	out, err := a.run("migrate", a.mnt)
	if err != nil {
		t.Fatalf("tierfs migrate on a: %v\n%s", err, out)
	}
	for _, want := range []string{"moved 1 files", "skipped: 1 users served by other hosts", "other-host 1", "outside-user 1",
		"files outside the per-user directories are not moved"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate report lacks %q:\n%s", want, out)
		}
	}
	a.requireOnTier(t, "mail/ab/alice/cur/1", "slow")
	a.requireOnTier(t, "mail/cd/bob/cur/1", "fast")
	a.requireOnTier(t, "mail/stray", "fast")
	waitLease(t, a, "ab/alice", "a", "free") // the mover's lease, released after its batch
	waitLease(t, a, "cd/bob", "b", "held")
	if got, err := os.ReadFile(a.path("mail/ab/alice/cur/1")); err != nil || string(got) != "content of mail/ab/alice/cur/1" {
		t.Fatalf("alice's moved mail on a: %q, %v", got, err)
	}
}

// Host a stops renewing its heartbeat (its file on the lease tier is
// replaced by another writer's, an hour old: a takes it for another
// daemon under its name): once its validity passes, a fails closed,
// answering EIO for the user's files although its kernel cached them
// for an hour, and b takes the user over from the dead-looking host.
func TestClusterHeartbeatLapseFailsClosed(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{releaseAfter: "1h"})
	a.mkdirAll(t, "mail/ab/alice/cur")
	a.writeFile(t, "mail/ab/alice/cur/1", "written by a")
	if _, err := os.Stat(a.path("mail/ab/alice/cur/1")); err != nil {
		t.Fatal(err)
	}
	beat := a.tierPath("fast", ".tierfs-cluster/hosts/a")
	stale := fmt.Sprintf("a 999999 %d\n", time.Now().Add(-time.Hour).UnixNano())
	if err := os.WriteFile(beat+".test", []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(beat+".test", beat); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := os.Stat(a.path("mail/ab/alice/cur/1"))
		if errors.Is(err, syscall.EIO) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("stat on a after its heartbeat stopped: %v, want EIO", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(a.d.log(), "heartbeat lapsed") {
		t.Errorf("a did not log the lapsed lease:\n%s", a.d.log())
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		got, err := os.ReadFile(b.path("mail/ab/alice/cur/1"))
		if err == nil {
			if string(got) != "written by a" {
				t.Fatalf("read on b: %q", got)
			}
			break
		}
		if !errors.Is(err, syscall.EIO) || time.Now().After(deadline) {
			t.Fatalf("read on b after a's heartbeat stopped: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	requireStatus(t, a, "1 lost")
}

// A request waiting for another host's lease is not failed when its
// process gets a signal it handles (the kernel sends tierfs INTERRUPT):
// it waits on, within lease_wait, and is served once the lease is free.
func TestClusterLeaseWaitSurvivesSignals(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{leaseWait: "20s"})
	b.mkdirAll(t, "mail/ab/alice/cur")
	b.writeFile(t, "mail/ab/alice/cur/1", "via b")
	held, err := os.Open(b.path("mail/ab/alice/cur/1"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waitLease(t, a, "ab/alice", "b", "held")

	type result struct {
		data []byte
		err  error
	}
	tid, done := make(chan int), make(chan result)
	go func() {
		runtime.LockOSThread() // the signals go to this thread
		tid <- unix.Gettid()
		data, err := os.ReadFile(a.path("mail/ab/alice/cur/1"))
		done <- result{data, err}
	}()
	thread := <-tid
	for range 5 {
		time.Sleep(200 * time.Millisecond)
		// SIGURG: the Go runtime handles it and carries on.
		if err := unix.Tgkill(os.Getpid(), thread, unix.SIGURG); err != nil {
			t.Fatal(err)
		}
	}
	held.Close()
	r := <-done
	if r.err != nil || string(r.data) != "via b" {
		t.Fatalf("read on a, signalled while it waited for b's lease: %q, %v", r.data, r.err)
	}
	if strings.Contains(a.d.log(), "cannot take the user's lease") {
		t.Errorf("a logged a refused lease:\n%s", a.d.log())
	}
}
