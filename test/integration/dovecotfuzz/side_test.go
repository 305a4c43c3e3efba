package dovecotfuzz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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

// side is one storage kind under test: its hosts, which one serves each
// user, and what its last check saw.
type side struct {
	name  string
	hosts []*host
	// serving maps each user to the host serving it, as a director
	// would: always the only host but in a cluster.
	serving map[string]*host
	// seen maps user and mailbox to the UIDs the last check saw there.
	seen map[string]map[string]uidRecord
	// wrote is when each host's last command that may have changed a
	// public folder ended, and writing says the commands of the current
	// step may. A host's command waits until hostSettle after the other
	// hosts' last such command, so that it sees their changes. mu guards
	// wrote: a burst's deliveries run at once.
	mu      sync.Mutex
	wrote   map[*host]time.Time
	writing bool
}

// uidRecord is a mailbox's UIDVALIDITY and its messages' Message-IDs by
// UID: as long as the mailbox is not renamed or deleted, neither changes.
type uidRecord struct {
	validity uint32
	ids      map[imap.UID]string
}

// newSide mounts a storage of kind on each of nhosts hosts (a cluster
// sharing the persistent tiers when more than one) with mail aging to
// the slow tier after 30 days and no periodic mover passes, and starts
// Dovecot on each for format with mmapDisable. The first host serves
// every user. A non-nil pub is a public namespace of every host's
// Dovecot.
func newSide(t *testing.T, kind dovecottest.Kind, format string, mmapDisable bool, nhosts int, pub *publicNS) *side {
	t.Helper()
	s := &side{name: string(kind), serving: map[string]*host{}, seen: map[string]map[string]uidRecord{}, wrote: map[*host]time.Time{}}
	for i := range nhosts {
		name := s.name
		var cl *dovecottest.Cluster
		if nhosts > 1 {
			name = fmt.Sprintf("%s/%c", kind, 'a'+i)
			// A host's crash is taken over within seconds; a request
			// waits for another host's lease longer than that, so that a
			// user moved off a dead host waits instead of failing.
			cl = &dovecottest.Cluster{Host: string(rune('a' + i)), HostTimeout: "3s", ReleaseAfter: "1s", LeaseWait: "10s"}
			if i > 0 {
				cl.SharedWith = s.hosts[0].store
			}
		}
		s.hosts = append(s.hosts, newHost(t, name, kind, format, mmapDisable, cl, pub))
	}
	if pub != nil {
		if err := pub.prepare(s.hosts[0]); err != nil {
			t.Fatalf("%s: public namespace: %v", s.name, err)
		}
	}
	for _, u := range userNames {
		s.serving[u] = s.hosts[0]
	}
	return s
}

// newHost mounts one storage and starts Dovecot on it.
func newHost(t *testing.T, name string, kind dovecottest.Kind, format string, mmapDisable bool, cl *dovecottest.Cluster, pub *publicNS) *host {
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
	h := &host{name: name, clients: map[string]*imapclient.Client{}}
	h.store, err = dovecottest.NewStorage(ctx, dovecottest.StorageOptions{
		Kind: kind, Dir: openDir(t), TierfsBin: tierfs.Path, Owner: acct,
		Rules: rules, ExtraConfig: "[mover]\ninterval = \"0s\"\n", Cluster: cl,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.joinPass()
		if err := h.store.Close(); err != nil {
			t.Errorf("%s: close storage: %v", name, err)
		}
	})
	settings, err := h.store.DovecotSettings(ctx, format)
	if err != nil {
		t.Fatal(err)
	}
	if format == "mdbox" {
		// Small storage files, so that the mover finds old ones that new
		// mail is not appended to.
		settings += "\nmdbox_rotate_size = 4k\n"
	}
	h.opts = dovecottest.Options{Dir: openDir(t), MailSettings: settings, Users: users, MmapDisable: mmapDisable}
	if pub != nil {
		h.opts.MailSettings, h.opts.Extra = pub.mailSettings(settings), pub.config(h.store.Root)
	}
	if h.srv, err = dovecottest.Start(ctx, h.opts); err != nil {
		t.Fatal(err)
	}
	// Registered after the storage's cleanup, so it runs first: Dovecot
	// must be gone before tierfs is unmounted.
	t.Cleanup(func() {
		h.closeClients()
		if err := h.srv.Close(); err != nil {
			t.Errorf("%s: stop dovecot: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s: dovecot log:\n%s", name, h.srv.Log())
			if kind == dovecottest.KindTierfs {
				t.Logf("%s: tierfs log:\n%s", name, h.store.Log())
			}
		}
	})
	return h
}

// imap runs f with user's IMAP session on the host serving user.
func (s *side) imap(user string, f func(c *imapclient.Client) error) error {
	h := s.serving[user]
	return s.on(h, func() error { return h.imap(user, f) })
}

// on runs f, a command on h, once the other hosts' changes of public
// folders settled (see wrote).
func (s *side) on(h *host, f func() error) error {
	s.settle(h)
	defer s.done(h)
	return f()
}

// settle waits until hostSettle after the last command that may have
// changed a public folder on a host other than h (any host if h is
// nil).
func (s *side) settle(h *host) {
	s.mu.Lock()
	var last time.Time
	for o, end := range s.wrote {
		if o != h && end.After(last) {
			last = end
		}
	}
	s.mu.Unlock()
	time.Sleep(time.Until(last.Add(hostSettle)))
}

// done records the end of a command on h.
func (s *side) done(h *host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writing {
		s.wrote[h] = time.Now()
	}
}

// atOnce runs f for every user at the same time, each with its session
// on the host serving it, once the hosts' changes settled.
func (s *side) atOnce(users []string, f func(user string, c *imapclient.Client) error) error {
	s.settle(nil)
	clients := make([]*imapclient.Client, len(users))
	for i, u := range users {
		var err error
		if clients[i], err = s.serving[u].session(u); err != nil {
			return err
		}
	}
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(u, clients[i])
		}()
	}
	wg.Wait()
	for i, u := range users {
		h := s.serving[u]
		h.after(u, clients[i], errs[i])
		s.done(h)
	}
	return errors.Join(errs...)
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

// refuses reports whether the server refuses to open user's box.
func (s *side) refuses(user, box string) bool {
	err := s.imap(user, func(c *imapclient.Client) error {
		if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return err
		}
		return c.Unselect().Wait()
	})
	return refusal(err)
}

// deliver sends msg to rcpts, over one LMTP session per host serving
// some of them, as a director's LMTP proxy does.
func (s *side) deliver(ctx context.Context, rcpts []string, msg dovecottest.Message) error {
	for _, h := range s.hosts {
		var mine []string
		for _, u := range rcpts {
			if s.serving[u] == h {
				mine = append(mine, u)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if err := s.on(h, func() error { return h.deliver(ctx, mine, msg) }); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
	}
	return nil
}

// doveadm runs doveadm for user on the host serving user.
func (s *side) doveadm(ctx context.Context, user string, args ...string) error {
	h := s.serving[user]
	return s.on(h, func() error {
		_, err := h.srv.Doveadm(ctx, append(args, "-u", user)...)
		return err
	})
}

// stopDovecot ends the IMAP sessions and stops Dovecot on every host.
func (s *side) stopDovecot() error {
	var err error
	for _, h := range s.hosts {
		if e := h.stopDovecot(); e != nil && err == nil {
			err = fmt.Errorf("%s: %w", h.name, e)
		}
	}
	return err
}

// startDovecot starts Dovecot again on every host.
func (s *side) startDovecot(t *testing.T) {
	t.Helper()
	for _, h := range s.hosts {
		h.startDovecot(t)
	}
}

// joinPasses waits for every host's running pass and fails t unless
// each ended with every move done or skipped.
func (s *side) joinPasses(t *testing.T) {
	t.Helper()
	for _, h := range s.hosts {
		h.joinPassChecked(t)
	}
}

// age ages the message files pick chooses, each user's through the host
// serving it.
func (s *side) age(format string, pick func() bool) (int, error) {
	n := 0
	for _, u := range userNames {
		m, err := s.serving[u].age(format, u, pick)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// move hands every user from serves to host to, and returns them.
func (s *side) move(from, to *host) []string {
	var moved []string
	for _, u := range userNames {
		if s.serving[u] == from {
			s.hand(u, to)
			moved = append(moved, u)
		}
	}
	return moved
}

// hand has host to serve user, as a director moving the user does: the
// user's session on the host serving it now ends first.
func (s *side) hand(user string, to *host) {
	s.serving[user].logout(user)
	s.serving[user] = to
}
