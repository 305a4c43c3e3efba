package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// leaseUsers is what tierfs status --json of host f says of its lease
// records: users held, and users it keeps a record of.
func leaseUsers(t testing.TB, f *fixture) (held, known int) {
	t.Helper()
	var reps []struct {
		Cluster *struct {
			Held  int `json:"held"`
			Users int `json:"users"`
		} `json:"cluster"`
	}
	out := runOK(t, f, "status", "--json", f.mnt)
	if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 || reps[0].Cluster == nil {
		t.Fatalf("tierfs status --json: %v\n%s", err, out)
	}
	return reps[0].Cluster.Held, reps[0].Cluster.Users
}

// waitLeaseUsers waits until host f keeps records of want users.
func waitLeaseUsers(t testing.TB, f *fixture, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, known := leaseUsers(t, f)
		if known == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host keeps records of %d users, want %d", known, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Host a serves eight users, releases them, and once its kernel forgot
// their nodes it keeps no record of them (status: 0 known). The users
// are then served as before: one that b served meanwhile has a's tmpfs
// state (its list index) dropped and b's mail shown, although a's
// record of the user, which the last hostchange check used, was freed.
func TestClusterLeaseRecordsFreed(t *testing.T) {
	a, b := twoHosts(t, clusterOpts{})
	const users = 8
	const list = "listindex/ab/u0/dovecot.list.index"
	for i := range users {
		dir := fmt.Sprintf("mail/ab/u%d/cur", i)
		a.mkdirAll(t, dir)
		a.writeFile(t, dir+"/1", fmt.Sprintf("mail of u%d", i))
	}
	a.mkdirAll(t, "listindex/ab/u0")
	a.writeFile(t, list, "a's list index")
	a.requireOnTier(t, list, "tmp")
	if _, known := leaseUsers(t, a); known != users { // held or not, the kernel holds their nodes
		t.Fatalf("after serving %d users: %d known", users, known)
	}
	for i := range users {
		waitLease(t, a, fmt.Sprintf("ab/u%d", i), "a", "free")
	}
	dropCaches(t) // the kernel forgets the users' nodes: nothing pins their records
	waitLeaseUsers(t, a, 0)
	requireStatus(t, a, "0 users held, 0 known")

	b.writeFile(t, "mail/ab/u0/cur/2", "via b")
	waitLease(t, a, "ab/u0", "b", "free")
	_, err := os.Stat(a.path(list))
	requireErrno(t, "a's list index after b served u0", err, syscall.ENOENT)
	if fileExists(a.tierPath("tmp", "listindex/ab/u0")) {
		t.Fatal("a's tmpfs tier still holds listindex/ab/u0 after the hostchange")
	}
	for name, want := range map[string]string{"mail/ab/u0/cur/1": "mail of u0", "mail/ab/u0/cur/2": "via b", "mail/ab/u3/cur/1": "mail of u3"} {
		if got, err := os.ReadFile(a.path(name)); err != nil || string(got) != want {
			t.Fatalf("read on a of %s: %q, %v; want %q", name, got, err, want)
		}
	}
	if names := readdirNames(t, a.path("mail/ab/u0/cur")); fmt.Sprint(names) != "[1 2]" {
		t.Fatalf("a lists u0's cur/ as %v, want [1 2]", names)
	}
	if _, known := leaseUsers(t, a); known != 2 {
		t.Fatalf("after serving u0 and u3 again: %d known, want 2", known)
	}
}
