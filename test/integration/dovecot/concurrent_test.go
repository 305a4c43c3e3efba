package dovecot

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// concurrentSessions keeps two IMAP sessions busy on user's INBOX (one
// storing flags, one fetching) while LMTP delivers n messages to it; then
// both sessions must see every message, and all bodies must be intact.
func concurrentSessions(t *testing.T, f *fixture, user string, n int, want map[string]mailbox) {
	a, b := login(t, f, user), login(t, f, user)
	selA, err := a.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("session A: SELECT: %v", err)
	}
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("session B: SELECT: %v", err)
	}
	items := batch("concurrent", user, n)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var errA, errB, errD error
	wg.Add(3)
	go func() {
		defer wg.Done()
		defer close(done)
		errD = deliverItems(f, items)
	}()
	go func() {
		defer wg.Done()
		errA = busy(done, func() error {
			if err := a.Noop().Wait(); err != nil {
				return fmt.Errorf("NOOP: %w", err)
			}
			return a.Store(dovecottest.AllSeqs(), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
				Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
		})
	}()
	go func() {
		defer wg.Done()
		errB = busy(done, func() error {
			_, err := b.Fetch(dovecottest.AllSeqs(), &imap.FetchOptions{UID: true, Flags: true}).Collect()
			return err
		})
	}()
	wg.Wait()
	if err := errors.Join(errD, errA, errB); err != nil {
		t.Fatalf("concurrent sessions: %v", err)
	}
	record(items, want)
	wantN := selA.NumMessages + uint32(n)
	for name, c := range map[string]*imapclient.Client{"A": a, "B": b} {
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("session %s: NOOP: %v", name, err)
		}
		if got := c.Mailbox().NumMessages; got != wantN {
			t.Errorf("session %s sees %d messages after delivery, want %d", name, got, wantN)
		}
	}
	store(t, a, dovecottest.AllSeqs(), imap.StoreFlagsAdd, imap.FlagSeen)
	_, msgs := fetchAll(t, b, "INBOX")
	checkBodies(t, user+" INBOX after concurrent delivery", msgs, want[user])
	for _, m := range msgs {
		if !strings.Contains(dovecottest.FlagString(m.Flags), `\seen`) {
			t.Errorf("UID %d: session B does not see \\Seen stored by session A", m.UID)
		}
	}
	// Open sessions make Dovecot's shutdown wait for them.
	for _, c := range []*imapclient.Client{a, b} {
		if err := c.Logout().Wait(); err != nil {
			t.Errorf("LOGOUT: %v", err)
		}
	}
}

// busy calls op until done is closed or op fails.
func busy(done <-chan struct{}, op func() error) error {
	for {
		select {
		case <-done:
			return nil
		default:
		}
		if err := op(); err != nil {
			return err
		}
	}
}
