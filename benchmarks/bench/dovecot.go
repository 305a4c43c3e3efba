package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tierfs/tierfs/dovecot"
	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// dovecotWorkload runs a real Dovecot (helper "dovecot"'s dovecottest
// harness) with the mail settings `tierfs dovecot-config` prints for
// maildir and Dovecot 2.3, pointed at the target's root, so that every
// target sees the same Dovecot configuration and layout. It delivers
// mail over LMTP, then every user reads, flags and expunges over IMAP.
type dovecotWorkload struct{}

func (dovecotWorkload) Name() string { return "dovecot" }

func (dovecotWorkload) Metrics() []string {
	return []string{"dovecot-lmtp", "dovecot-imap", "dovecot-total"}
}

const dovecotPassword = "bench"

func (w dovecotWorkload) Run(ctx context.Context, env *Env) ([]Sample, error) {
	s := env.Sizes
	acct, err := dovecottest.EnsureMailUser(ctx, dovecottest.DefaultMailUser)
	if err != nil {
		return nil, err
	}
	for _, sub := range dovecot.Subtrees() {
		p := filepath.Join(env.Root, sub.Name)
		if err := os.MkdirAll(p, 0o750); err != nil {
			return nil, err
		}
		if err := os.Chown(p, acct.UID, acct.GID); err != nil {
			return nil, err
		}
	}
	settings, err := dovecot.Settings(env.Root, "maildir", "2.3", false)
	if err != nil {
		return nil, err
	}
	users := make([]dovecottest.User, s.DovecotUsers)
	for i := range users {
		users[i] = dovecottest.User{Name: fmt.Sprintf("user%d", i+1), Password: dovecotPassword}
	}
	srv, err := dovecottest.Start(ctx, dovecottest.Options{
		Dir:          filepath.Join(env.ws.Dir, "dovecot-"+env.Target),
		MailSettings: settings,
		Users:        users,
		MmapDisable:  env.MmapDisable,
	})
	if err != nil {
		return nil, err
	}
	stopErr := func() error { return srv.Close() }
	samples, err := w.drive(ctx, srv, users, s)
	if err != nil {
		if p := srv.LogProblems(); len(p) > 0 {
			err = fmt.Errorf("%w\ndovecot log problems:\n%s", err, strings.Join(p, "\n"))
		}
	}
	return samples, errors.Join(err, stopErr())
}

// drive runs the LMTP phase and then the IMAP phase, each with
// DovecotClients concurrent sessions over disjoint users.
func (dovecotWorkload) drive(ctx context.Context, srv *dovecottest.Server, users []dovecottest.User, s Sizes) ([]Sample, error) {
	msgs := make([]dovecottest.Message, s.DovecotMsgs)
	for i := range msgs {
		msgs[i] = dovecottest.NewMessage(dovecottest.MessageSpec{
			ID: fmt.Sprintf("bench-%d@example.com", i), From: "sender@example.com", To: "rcpt@example.com",
			BodySize: s.MsgSize, Seed: uint64(i),
		})
	}
	total := float64(len(users) * len(msgs))

	start := time.Now()
	err := forUsers(ctx, users, s.DovecotClients, func(ctx context.Context, mine []dovecottest.User) error {
		c, err := dovecottest.DialLMTP(ctx, srv.LMTPAddr)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			for _, u := range mine {
				if err := c.Deliver("sender@example.com", []string{u.Name}, m.Bytes); err != nil {
					c.Close()
					return err
				}
			}
		}
		return c.Close()
	})
	lmtp := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("dovecot-lmtp: %w", err)
	}

	start = time.Now()
	err = forUsers(ctx, users, s.DovecotClients, func(ctx context.Context, mine []dovecottest.User) error {
		for _, u := range mine {
			if err := imapSession(srv.IMAPAddr, u, len(msgs)); err != nil {
				return fmt.Errorf("%s: %w", u.Name, err)
			}
		}
		return nil
	})
	imapTime := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("dovecot-imap: %w", err)
	}
	return []Sample{
		{"dovecot-lmtp", "msgs/s", perSecond(total, lmtp)},
		{"dovecot-imap", "msgs/s", perSecond(total, imapTime)},
		{"dovecot-total", "msgs/s", perSecond(total, lmtp+imapTime)},
	}, nil
}

// imapSession logs in, reads every message, marks each one \Seen one by
// one (a maildir rename per message), deletes every fourth, expunges and
// logs out, checking the counts Dovecot reports.
func imapSession(addr string, u dovecottest.User, want int) error {
	c, err := dovecottest.DialIMAP(addr, u.Name, u.Password, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return fmt.Errorf("SELECT: %w", err)
	}
	if int(sel.NumMessages) != want {
		return fmt.Errorf("INBOX has %d messages, want %d", sel.NumMessages, want)
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Peek: true}
	fetched, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("FETCH: %w", err)
	}
	if len(fetched) != want {
		return fmt.Errorf("FETCH returned %d messages, want %d", len(fetched), want)
	}
	for _, m := range fetched {
		if len(m.FindBodySection(section)) == 0 {
			return fmt.Errorf("FETCH: empty body for UID %d", m.UID)
		}
		flags := []imap.Flag{imap.FlagSeen}
		if m.UID%4 == 0 {
			flags = append(flags, imap.FlagDeleted)
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: flags, Silent: true}
		if err := c.Store(imap.UIDSetNum(m.UID), store, nil).Close(); err != nil {
			return fmt.Errorf("STORE UID %d: %w", m.UID, err)
		}
	}
	expunged, err := c.Expunge().Collect()
	if err != nil {
		return fmt.Errorf("EXPUNGE: %w", err)
	}
	if len(expunged) != want/4 {
		return fmt.Errorf("EXPUNGE removed %d messages, want %d", len(expunged), want/4)
	}
	return c.Logout().Wait()
}

// forUsers splits users over n goroutines and runs f on each share.
func forUsers(ctx context.Context, users []dovecottest.User, n int, f func(context.Context, []dovecottest.User) error) error {
	n = max(1, min(n, len(users)))
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		var mine []dovecottest.User
		for j := i; j < len(users); j += n {
			mine = append(mine, users[j])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx, mine)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
