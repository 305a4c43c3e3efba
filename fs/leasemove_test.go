package fs

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/tierfs/tierfs/policy"
)

// heldRoot is a root in a cluster whose per-user directories are pats.
func heldRoot(t *testing.T, f *fakeLeases, pats ...string) *Root {
	t.Helper()
	var gs []*policy.Glob
	for _, p := range pats {
		g, err := policy.CompileGlob(p)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	r := &Root{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.root = &node{r: r}
	r.leases = newLeaseSet(r, &ClusterOptions{Leases: f, UserDirs: gs, ReleaseAfter: time.Hour, Host: "me"})
	return r
}

// HeldUsers names the users whose leases this host holds and their
// directories under every per-user glob of theirs; a user seen or
// released is not held, and a glob with a pattern segment cannot name
// its directories.
func TestHeldUsers(t *testing.T) {
	ctx := context.Background()
	r := heldRoot(t, newFakeLeases(), "mail/{hash}/{user}", "index/{hash}/{user}", "sieve/{user}")
	s := r.leases
	for _, p := range []string{"mail/ab/alice/cur/1", "sieve/carol/x", "mail/ef/erin/new"} {
		u, _ := s.userOf(p)
		if e := u.use(ctx); e != 0 {
			t.Fatalf("use %s: %v", p, e)
		}
	}
	s.userOf("mail/cd/bob/cur/1") // seen, never held
	erin, _ := s.userOf("mail/ef/erin")
	erin.mu.Lock()
	erin.release(ctx)
	erin.mu.Unlock()
	users, dirs, ok := r.HeldUsers()
	if !ok || !slices.Equal(users, []string{"_/carol", "ab/alice"}) ||
		!slices.Equal(dirs, []string{"index/ab/alice", "mail/ab/alice", "sieve/carol"}) {
		t.Errorf("HeldUsers() = %q, %q, %v", users, dirs, ok)
	}
	r = heldRoot(t, newFakeLeases(), "mail*/{hash}/{user}")
	u, _ := r.leases.userOf("mail2/ab/alice/x")
	if e := u.use(ctx); e != 0 {
		t.Fatal(e)
	}
	if _, _, ok := r.HeldUsers(); ok {
		t.Error("HeldUsers() ok with a pattern glob")
	}
	if users, dirs, ok := (&Root{}).HeldUsers(); users != nil || dirs != nil || !ok {
		t.Errorf("outside a cluster: %q, %q, %v", users, dirs, ok)
	}
}
