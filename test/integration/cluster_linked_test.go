package integration

import (
	"os"
	"path"
	"strings"
	"testing"
	"time"
)

// A message linked into two users' trees, as Dovecot's delivery to
// several recipients makes it, stays readable through each user's name
// on the host serving that user. Host a delivers to alice and bob (one
// file, two names) and keeps serving bob, while a director moves alice
// to b. a then opens and reads bob's name under bob's lease; b, which
// now serves alice, reads hers; and the file a holds open through bob's
// name keeps bob's lease on a, not alice's: b is never kept waiting for
// alice. Before, the node served every request under the lease of the
// user it was made for (alice): a failed bob's read with EIO after
// lease_wait, and a's open took alice's lease and held it from b.
//
// a's kernel learns bob's name either from the link itself, or, after a
// remount, from a lookup that go-fuse answers with the node it made for
// alice's name.
func TestClusterLinkedAcrossUsers(t *testing.T) {
	for _, learn := range []string{"link", "lookup"} {
		t.Run(learn, func(t *testing.T) { runLinkedAcrossUsers(t, learn) })
	}
}

// The users' directories and the message of the linked-file tests.
const linkedAlice, linkedBob, linkedBody = "mail/ab/alice/cur/", "mail/cd/bob/cur/", "one message, two recipients"

// linkedHosts mounts hosts a and b and, through a, delivers one message
// to alice and bob: one file, named 1 in both users' cur/.
func linkedHosts(t *testing.T) (a, b *fixture) {
	t.Helper()
	a, b = twoHosts(t, clusterOpts{leaseWait: "2s"})
	a.mkdirAll(t, linkedAlice)
	a.mkdirAll(t, linkedBob)
	a.writeFile(t, linkedAlice+"1", linkedBody)
	if err := os.Link(a.path(linkedAlice+"1"), a.path(linkedBob+"1")); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func runLinkedAcrossUsers(t *testing.T, learn string) {
	const alice, bob, body = linkedAlice, linkedBob, linkedBody
	a, b := linkedHosts(t)
	if learn == "lookup" {
		a.unmount(t)
		a.mount(t)
		if _, err := os.Stat(a.path(alice + "1")); err != nil { // the node is alice's
			t.Fatal(err)
		}
		if _, err := os.Stat(a.path(bob + "1")); err != nil {
			t.Fatal(err)
		}
	}
	bobsDir, err := os.Open(a.path(bob)) // a keeps serving bob
	if err != nil {
		t.Fatal(err)
	}
	defer bobsDir.Close()

	held := aliceToB(t, a, b, alice+"1")
	readOn(t, b, alice+"1", body)
	readOn(t, a, bob+"1", body)
	held.Close()

	// Now a holds bob's name open while alice's lease is free: the open
	// must count for bob.
	waitLease(t, a, "ab/alice", "b", "free")
	f, err := os.Open(a.path(bob + "1"))
	if err != nil {
		t.Fatalf("open on a of bob's name: %v", err)
	}
	defer f.Close()
	time.Sleep(1500 * time.Millisecond) // past release_after
	if data, _ := os.ReadFile(leaseFile(a, "ab/alice")); !strings.HasPrefix(string(data), "b free ") {
		t.Fatalf("alice's lease is %q while a holds bob's name open: a took it", data)
	}
	waitLease(t, a, "cd/bob", "a", "held")
	readOn(t, b, alice+"1", body)
	for _, h := range []*fixture{a, b} {
		if strings.Contains(h.d.log(), "cannot take the user's lease") {
			t.Errorf("host %s was refused a lease:\n%s", h.mnt, h.d.log())
		}
	}
}

// aliceToB hands user alice from host a to host b, as a director does:
// it waits until a lets her go, then opens rel, beneath her directory,
// on b and holds it open (until the test ends, or the caller closes it)
// so that b keeps her.
func aliceToB(t *testing.T, a, b *fixture, rel string) *os.File {
	t.Helper()
	waitLease(t, a, "ab/alice", "a", "free")
	held, err := os.Open(b.path(rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	waitLease(t, a, "ab/alice", "b", "held")
	return held
}

// readOn fails unless rel reads want through host f.
func readOn(t *testing.T, f *fixture, rel, want string) {
	t.Helper()
	got, err := os.ReadFile(f.path(rel))
	if err != nil || string(got) != want {
		t.Fatalf("read %s on %s: %q, %v; want %q", rel, f.mnt, got, err, want)
	}
}

// A file linked into two users' trees keeps being served through one
// user's name on host a after host b renamed the other user's name, as
// Dovecot's maildir does when it moves a message from new/ to cur/ or
// changes its flags. a made the node for both names (the link last),
// and go-fuse builds a node's path from its newest name; a's release of
// bob takes bob's name out of that tree, so that a does not open bob's
// old name, which b renamed (ENOENT, and Dovecot's "Filename keeps
// changing"), when alice reads hers.
func TestClusterLinkedNameRenamedElsewhere(t *testing.T) {
	const alice, bob, body = linkedAlice, linkedBob, linkedBody
	a, b := linkedHosts(t)
	alicesDir, err := os.Open(a.path(alice)) // a keeps serving alice
	if err != nil {
		t.Fatal(err)
	}
	defer alicesDir.Close()
	waitLease(t, a, "cd/bob", "a", "free")
	if err := os.Rename(b.path(bob+"1"), b.path(bob+"1:2,S")); err != nil {
		t.Fatalf("rename on b of bob's name: %v", err)
	}
	readOn(t, a, alice+"1", body)
	waitLease(t, a, "cd/bob", "b", "free")
	readOn(t, a, bob+"1:2,S", body)
	if _, err := os.Stat(a.path(bob + "1")); !os.IsNotExist(err) {
		t.Errorf("stat on a of bob's old name: %v, want ENOENT", err)
	}
}

// A message linked between a user's mailbox and a public folder, as
// Dovecot's COPY with hard links makes it, is read through the public
// name on a host that no longer serves the user: a shared name needs no
// lease, on this file as on any other. Host a's kernel learns the
// user's name first (so a's node is alice's) and then the public one;
// once b serves alice, a reads the public name. Before, that read
// needed alice's lease and failed with EIO after lease_wait.
func TestClusterLinkedIntoPublic(t *testing.T) {
	const alice, public, body = linkedAlice, "public/f/cur/", "one message, a user's and public"
	a, b := twoHosts(t, clusterOpts{leaseWait: "2s"})
	a.mkdirAll(t, alice)
	a.mkdirAll(t, public)
	a.writeFile(t, alice+"1", body)
	if err := os.Link(a.path(alice+"1"), a.path(public+"1")); err != nil {
		t.Fatal(err)
	}
	a.unmount(t)
	a.mount(t)
	readOn(t, a, alice+"1", body) // the node is alice's
	readOn(t, a, public+"1", body)
	aliceToB(t, a, b, alice+"1")
	readOn(t, a, public+"1", body)
	if _, err := os.Stat(a.path(public + "1")); err != nil {
		t.Errorf("stat on a of the public name: %v", err)
	}
}

// A linked file's node that go-fuse revives while the kernel forgets it
// is still served as through the name the revival came through: under
// bob's lease for bob's name, with none for a public folder's. Host a's
// lookup of that name finds the node (made for alice's name) and
// pauses; meanwhile the kernel forgets the node, which drops its record
// of linked users; the lookup then revives it. Once b serves alice, a
// reads the name. Before, that read needed alice's lease and failed
// with EIO after lease_wait.
func TestClusterLinkedNodeRevived(t *testing.T) {
	for _, other := range []string{linkedBob, "public/f/cur/"} {
		t.Run(other, func(t *testing.T) { runLinkedNodeRevived(t, other+"1") })
	}
}

func runLinkedNodeRevived(t *testing.T, other string) {
	const alice, body = linkedAlice, linkedBody
	a, b := linkedHosts(t)
	a.mkdirAll(t, path.Dir(other))
	if _, err := os.Lstat(a.path(other)); err != nil {
		if err := os.Link(a.path(alice+"1"), a.path(other)); err != nil {
			t.Fatal(err)
		}
	}
	a.unmount(t)
	a.mount(t, "TIERFS_PAUSEPOINT=lookup-known:3s")
	readOn(t, a, alice+"1", body) // the node is alice's
	readOn(t, a, other, body)
	othersDir, err := os.Open(a.path(path.Dir(other))) // for bob's name, a keeps serving bob
	if err != nil {
		t.Fatal(err)
	}
	defer othersDir.Close()
	for try := range 5 {
		if reviveWhileLookingUp(t, a, alice+"1", other, try+1) {
			aliceToB(t, a, b, alice+"1")
			readOn(t, a, other, body)
			return
		}
		t.Logf("try %d: the kernel forgot the node only after the lookup", try)
	}
	t.Fatal("in 5 tries the kernel never forgot the node while the lookup paused; the test measures nothing")
}

// reviveWhileLookingUp holds keep open, drops the kernel's entry of
// name (another name of the same file), and stats name: a's lookup
// pauses (for the n-th time) at the file's known node. Meanwhile it
// closes keep and drops the kernel's caches, so that the kernel forgets
// the node while the lookup holds it. It reports whether that happened
// within the pause.
func reviveWhileLookingUp(t *testing.T, a *fixture, keep, name string, n int) bool {
	t.Helper()
	held, err := os.Open(a.path(keep))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	dropCaches(t) // name's entry goes; the open file keeps the inode
	statted := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := os.Stat(a.path(name))
		statted <- err
	}()
	in := forgetInPause(t, a, "lookup-known", "1", n, start, func() {
		held.Close()
		dropCaches(t)
	})
	if err := <-statted; err != nil {
		t.Fatalf("stat of %s: %v", name, err)
	}
	return in
}
