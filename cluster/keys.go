package cluster

import (
	"context"
	"sync"
)

// keyLocks serialises one host's goroutines per user, so that they
// never contend for the user's dotlock among themselves.
type keyLocks struct {
	mu sync.Mutex
	m  map[key]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters
}

func (k *keyLocks) init() { k.m = make(map[key]*keyLock) }

// lock takes k's lock, or fails when ctx ends first; call the returned
// function to unlock.
func (k *keyLocks) lock(ctx context.Context, id key) (func(), error) {
	k.mu.Lock()
	e := k.m[id]
	if e == nil {
		e = &keyLock{ch: make(chan struct{}, 1)}
		k.m[id] = e
	}
	e.refs++
	k.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; k.done(id, e) }, nil
	case <-ctx.Done():
		k.done(id, e)
		return nil, ctx.Err()
	}
}

// done drops one reference and forgets an unused entry.
func (k *keyLocks) done(id key, e *keyLock) {
	k.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(k.m, id)
	}
	k.mu.Unlock()
}
