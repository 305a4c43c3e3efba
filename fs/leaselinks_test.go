package fs

import (
	"context"
	"testing"
	"time"
)

// A file linked into alice's and bob's trees, made for alice's name, is
// served under bob's lease while another host holds alice's, and under
// bob's without asking for alice's once bob's is held. The link pins
// bob's record until the file's node is forgotten.
func TestLeaseLinkedUsers(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Millisecond)
	ctx := context.Background()
	alice, bob := userNode(r.root, "mail/ab/alice"), userNode(r.root, "mail/cd/bob")
	file := userNode(alice, "1")
	id := file.StableAttr()
	if r.linked.sharedWith(id, file.user, alice.user) {
		t.Fatal("an unlinked file counts as shared with another user")
	}
	r.linked.add(id, bob.user)
	r.linked.add(id, bob.user) // a second lookup of bob's name
	if got, shared := r.linked.users(id, file.user); len(got) != 2 || got[0] != alice.user || got[1] != bob.user || shared {
		t.Fatalf("users of the linked file: %v, shared %v; want alice's and bob's, not shared", got, shared)
	}
	if !r.linked.sharedWith(id, file.user, alice.user) || !r.linked.sharedWith(id, file.user, bob.user) {
		t.Fatal("the linked file does not count as shared with the other user")
	}

	f.other("alice", "b", true)
	u, e := file.leaseUser(ctx)
	if e != 0 || u != bob.user {
		t.Fatalf("request on the file while b holds alice: %v, %v; want bob's lease", u, e)
	}
	if e := alice.user.use(ctx); e == 0 {
		t.Fatal("premise: alice's lease was taken while b holds it")
	}
	before, _ := f.counts()
	bob.user.fresh.Store(0) // past the hot path: held, not fresh
	if u, e := file.leaseUser(ctx); e != 0 || u != bob.user {
		t.Fatalf("request with bob's lease held: %v, %v", u, e)
	}
	if after, _ := f.counts(); after != before {
		t.Fatalf("%d acquisitions with bob's lease held, want none", after-before)
	}

	pins := bob.user.pins.Load()
	file.OnForget()
	if got := bob.user.pins.Load(); got != pins-1 {
		t.Fatalf("bob's pins after the file was forgotten: %d, want %d", got, pins-1)
	}
	if r.linked.n.Load() != 0 {
		t.Fatalf("%d linked files left after the only one was forgotten", r.linked.n.Load())
	}
}

// A file linked between alice's tree and a shared name (a public
// folder) is served with no lease once the shared name reached it, as
// through that name, even while another host holds alice's; and it
// counts as shared with others when alice is let go.
func TestLeaseLinkedShared(t *testing.T) {
	f := newFakeLeases()
	r := pinRoot(t, f, time.Millisecond)
	ctx := context.Background()
	alice := userNode(r.root, "mail/ab/alice")
	file := userNode(alice, "1")
	id := file.StableAttr()
	r.linked.add(id, alice.user)
	f.other("alice", "b", true)
	if _, e := file.leaseUser(ctx); e == 0 {
		t.Fatal("premise: a file reached through alice's names alone was served while b holds alice")
	}
	if r.linked.sharedWith(id, file.user, alice.user) {
		t.Fatal("a file reached through alice's names alone counts as shared with others")
	}
	r.linked.add(id, nil) // a lookup of its public name
	if u, e := file.leaseUser(ctx); e != 0 || u != nil {
		t.Fatalf("request on the file once its public name reached it: %v, %v; want no lease", u, e)
	}
	if !r.linked.sharedWith(id, file.user, alice.user) {
		t.Fatal("a file with a public name does not count as shared with others")
	}
	file.OnForget()
	if r.linked.n.Load() != 0 {
		t.Fatalf("%d linked files left after the only one was forgotten", r.linked.n.Load())
	}
}
