package dovecotfuzz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// users are the logins; every delivery goes to one of them or both.
var users = []dovecottest.User{{Name: "alice", Password: "pw-alice"}, {Name: "bob", Password: "pw-bob"}}

func password(user string) string {
	for _, u := range users {
		if u.Name == user {
			return u.Password
		}
	}
	return ""
}

// side is one Dovecot on one storage, and what its last check saw.
type side struct {
	name    string
	store   *dovecottest.Storage
	srv     *dovecottest.Server
	opts    dovecottest.Options
	clients map[string]*imapclient.Client
	// seen maps user and mailbox to the UIDs the last check saw there.
	seen map[string]map[string]uidRecord
	// pass is the running mover pass, nil when none runs.
	pass chan passResult
	// logged is how many problems of the Dovecot log were reported.
	logged int
}

// uidRecord is a mailbox's UIDVALIDITY and its messages' Message-IDs by
// UID: as long as the mailbox is not renamed or deleted, neither changes.
type uidRecord struct {
	validity uint32
	ids      map[imap.UID]string
}

// passResult is what a `tierfs migrate --json` said.
type passResult struct {
	out []byte
	err error
}

// newSide mounts a storage of kind with mail aging to the slow tier after
// 30 days and no periodic mover passes, and starts Dovecot on it for
// format with mmapDisable.
func newSide(t *testing.T, kind dovecottest.Kind, format string, mmapDisable bool) *side {
	t.Helper()
	ctx := t.Context()
	acct, err := dovecottest.EnsureMailUser(ctx, dovecottest.DefaultMailUser)
	if err != nil {
		t.Fatal(err)
	}
	rules := slices.Clone(dovecottest.DefaultRules)
	for i, r := range rules {
		if r.Match == "mail/**" {
			rules[i].DemoteAfter, rules[i].DemoteTo = "30d", dovecottest.TierSlow
		}
	}
	s := &side{name: string(kind), clients: map[string]*imapclient.Client{}, seen: map[string]map[string]uidRecord{}}
	s.store, err = dovecottest.NewStorage(ctx, dovecottest.StorageOptions{
		Kind: kind, Dir: openDir(t), TierfsBin: tierfs.Path, Owner: acct,
		Rules: rules, ExtraConfig: "[mover]\ninterval = \"0s\"\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.joinPass()
		if err := s.store.Close(); err != nil {
			t.Errorf("%s: close storage: %v", s.name, err)
		}
	})
	settings, err := s.store.DovecotSettings(ctx, format)
	if err != nil {
		t.Fatal(err)
	}
	if format == "mdbox" {
		// Small storage files, so that the mover finds old ones that new
		// mail is not appended to.
		settings += "\nmdbox_rotate_size = 4k\n"
	}
	s.opts = dovecottest.Options{Dir: openDir(t), MailSettings: settings, Users: users, MmapDisable: mmapDisable}
	if s.srv, err = dovecottest.Start(ctx, s.opts); err != nil {
		t.Fatal(err)
	}
	// Registered after the storage's cleanup, so it runs first: Dovecot
	// must be gone before tierfs is unmounted.
	t.Cleanup(func() {
		s.closeClients()
		if err := s.srv.Close(); err != nil {
			t.Errorf("%s: stop dovecot: %v", s.name, err)
		}
		if t.Failed() {
			t.Logf("%s: dovecot log:\n%s", s.name, s.srv.Log())
			if kind == dovecottest.KindTierfs {
				t.Logf("tierfs log:\n%s", s.store.Log())
			}
		}
	})
	return s
}

// imap runs f with user's IMAP session, logging in first if there is
// none. A session that failed other than by the server's NO or BAD, or
// that does not answer a NOOP after a failure (go-imap closes it when
// the server refuses an APPEND's literal), is dropped, so that the next
// command logs in again.
func (s *side) imap(user string, f func(c *imapclient.Client) error) error {
	c := s.clients[user]
	if c == nil {
		var err error
		if c, err = dovecottest.DialIMAP(s.srv.IMAPAddr, user, password(user), nil); err != nil {
			return err
		}
		s.clients[user] = c
	}
	err := f(c)
	var ie *imap.Error
	if err != nil && (!errors.As(err, &ie) || c.Noop().Wait() != nil) {
		c.Close()
		delete(s.clients, user)
	}
	return err
}

func (s *side) closeClients() {
	for user, c := range s.clients {
		c.Close()
		delete(s.clients, user)
	}
}

// inBox selects box, runs f with its messages' UIDs by Message-ID and
// leaves the mailbox again without expunging.
func (s *side) inBox(user, box string, f func(c *imapclient.Client, uids map[string][]imap.UID) error) error {
	return s.imap(user, func(c *imapclient.Client) error {
		sel, err := c.Select(box, nil).Wait()
		if err != nil {
			return err
		}
		uids := map[string][]imap.UID{}
		if sel.NumMessages > 0 {
			msgs, err := c.Fetch(dovecottest.AllSeqs(), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if m.Envelope != nil {
					uids[m.Envelope.MessageID] = append(uids[m.Envelope.MessageID], m.UID)
				}
			}
		}
		if err := f(c, uids); err != nil {
			c.Unselect().Wait()
			return err
		}
		return c.Unselect().Wait()
	})
}

// deliver sends msg to rcpts over a new LMTP session.
func (s *side) deliver(ctx context.Context, rcpts []string, msg dovecottest.Message) error {
	l, err := dovecottest.DialLMTP(ctx, s.srv.LMTPAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Deliver("sender@example.net", rcpts, msg.Bytes)
}

// stopDovecot ends the IMAP sessions and stops Dovecot.
func (s *side) stopDovecot() error {
	s.closeClients()
	return s.srv.Close()
}

// startDovecot starts Dovecot again on the same directory.
func (s *side) startDovecot(t *testing.T) {
	t.Helper()
	if err := s.srv.Restart(t.Context(), s.opts); err != nil {
		t.Fatalf("%s: start dovecot: %v", s.name, err)
	}
}

// startPass starts a mover pass in the background, after the one
// running (if any) ended.
func (s *side) startPass(t *testing.T) {
	s.joinPassChecked(t)
	ch := make(chan passResult, 1)
	s.pass = ch
	go func() {
		out, err := s.store.Tierfs(t.Context(), "migrate", "--json", s.store.Root)
		ch <- passResult{out, err}
	}()
}

// joinPass waits for the running pass, if any, and returns its result.
func (s *side) joinPass() passResult {
	if s.pass == nil {
		return passResult{}
	}
	r := <-s.pass
	s.pass = nil
	return r
}

// joinPassChecked waits for the running pass and fails t unless it ended
// with every move done or skipped.
func (s *side) joinPassChecked(t *testing.T) {
	t.Helper()
	r := s.joinPass()
	if r.out == nil && r.err == nil {
		return
	}
	var rep struct {
		Files  int64 `json:"files"`
		Failed int64 `json:"failed"`
	}
	if r.err != nil || json.Unmarshal(r.out, &rep) != nil {
		t.Errorf("tierfs migrate: %v\n%s", r.err, r.out)
		return
	}
	if rep.Failed != 0 {
		t.Errorf("tierfs migrate: %d moves failed\n%s", rep.Failed, r.out)
	}
}

// age sets the modification time of the message files under mail/
// that pick chooses 40 days back, through the mount, so that the next
// pass demotes them.
func (s *side) age(format string, pick func() bool) (int, error) {
	n := 0
	old := time.Now().Add(-40 * 24 * time.Hour)
	err := filepath.WalkDir(filepath.Join(s.store.Root, "mail"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // Dovecot removed it meanwhile
			}
			return err
		}
		if d.IsDir() || !dovecottest.IsMessageFile(format, p) || !pick() {
			return nil
		}
		if err := os.Chtimes(p, old, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("age %s: %w", p, err)
		}
		n++
		return nil
	})
	return n, err
}
