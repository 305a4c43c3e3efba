package cluster

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// registry is the test's view of who believes it holds each user,
// checked on every transition.
type registry struct {
	mu     sync.Mutex
	holder map[string]string
}

func (r *registry) take(t *testing.T, user, host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.holder[user]; h != "" {
		t.Errorf("%s acquired %s while %s believes it holds it", host, user, h)
	}
	r.holder[user] = host
}

func (r *registry) drop(t *testing.T, user, host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.holder[user]; h != host {
		t.Errorf("%s releases %s, but the registry says %q holds it", host, user, h)
	}
	r.holder[user] = ""
}

// hammerFor is how long TestHammer runs; TIERFS_CLUSTER_HAMMER (a
// duration) makes it longer.
func hammerFor(t *testing.T) time.Duration {
	if s := os.Getenv("TIERFS_CLUSTER_HAMMER"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TIERFS_CLUSTER_HAMMER: %v", err)
		}
		return d
	}
	return 2 * time.Second
}

// Two hosts with several goroutines each acquire and release a few users
// for a while: at no moment do two hosts believe they hold one user, and
// while one believes it, the lease names it.
func TestHammer(t *testing.T) {
	t.Parallel()
	dir := markedDir(t)
	tt := testTimes{hostTimeout: 3 * time.Second, leaseWait: 50 * time.Millisecond, tol: 200 * time.Millisecond}
	hosts := []*Leases{openHost(t, dir, "a", tt, true), openHost(t, dir, "b", tt, true)}
	users := []string{"alice", "bob", "carol"}
	reg := &registry{holder: map[string]string{}}
	// A host serves a user from one goroutine at a time, as the
	// filesystem does by counting its users' activity.
	var serving sync.Map
	ctx := context.Background()
	end := time.Now().Add(hammerFor(t))
	var wg sync.WaitGroup
	for _, l := range hosts {
		for g := range 4 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), uint64(len(l.Host()))))
				for time.Now().Before(end) {
					u := users[rng.IntN(len(users))]
					m, _ := serving.LoadOrStore(l.Host()+"/"+u, &sync.Mutex{})
					m.(*sync.Mutex).Lock()
					hammerOnce(t, ctx, l, dir, u, reg, rng)
					m.(*sync.Mutex).Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, l := range hosts {
		s := l.Stats()
		t.Logf("%s: %+v", l.Host(), s)
		if s.Acquired == 0 || s.Lost != 0 {
			t.Errorf("%s: stats %+v: want acquisitions and nothing lost", l.Host(), s)
		}
	}
	if hosts[0].Stats().Refused+hosts[1].Stats().Refused == 0 {
		t.Errorf("no acquisition was ever refused: the hosts never contended")
	}
}

// hammerOnce acquires u, holds it briefly and releases it.
func hammerOnce(t *testing.T, ctx context.Context, l *Leases, dir, u string, reg *registry, rng *rand.Rand) {
	_, err := l.Acquire(ctx, "ab", u)
	if errors.Is(err, ErrHeld) {
		return
	}
	if err != nil {
		t.Errorf("%s Acquire %s: %v", l.Host(), u, err)
		return
	}
	reg.take(t, u, l.Host())
	if got := leaseFile(t, dir, "ab", u); !strings.HasPrefix(got, l.Host()+" held ") {
		t.Errorf("%s holds %s but the lease says %q", l.Host(), u, got)
	}
	time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	reg.drop(t, u, l.Host())
	if err := l.Release(ctx, "ab", u); err != nil {
		t.Errorf("%s Release %s: %v", l.Host(), u, err)
	}
}
