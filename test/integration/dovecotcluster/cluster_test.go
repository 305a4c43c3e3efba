package dovecotcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

var alice = dovecottest.User{Name: "alice", Password: "pw-alice"}

// host is one Dovecot on one tierfs mount of the cluster.
type host struct {
	name  string
	store *dovecottest.Storage
	srv   *dovecottest.Server
}

// A user served by host a, then b, then a again, as a director moving
// the user makes it: mail delivered over LMTP on a is fetched over IMAP
// on b, which sets flags and expunges one; a sees exactly that, with
// UIDVALIDITY unchanged, and a message a delivers then is seen on b.
// Neither Dovecot logs an error.
func TestTwoHostsDovecot(t *testing.T) {
	tierfs.Require(t)
	for _, format := range []string{"maildir", "sdbox"} {
		t.Run(format, func(t *testing.T) { runTwoHosts(t, format) })
	}
}

func runTwoHosts(t *testing.T, format string) {
	a := startHost(t, "a", nil, format)
	b := startHost(t, "b", a.store, format)
	var bodies [][]byte
	for i := range 3 {
		bodies = append(bodies, deliver(t, a, i))
	}
	waitFree(t, a, "alice", "a")

	c := login(t, b)
	sel, msgs := fetchAll(t, c)
	uidValidity := sel.UIDValidity
	requireBodies(t, "b after a delivered", msgs, bodies)
	dovecottest.StoreFlags(t, c, imap.UIDSetNum(msgs[0].UID), imap.FlagSeen)
	dovecottest.StoreFlags(t, c, imap.UIDSetNum(msgs[1].UID), imap.FlagFlagged)
	dovecottest.StoreFlags(t, c, imap.UIDSetNum(msgs[2].UID), imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("EXPUNGE on b: %v", err)
	}
	c.Logout().Wait()
	c.Close()
	waitFree(t, a, "alice", "b")

	c = login(t, a)
	sel, msgs = fetchAll(t, c)
	if sel.UIDValidity != uidValidity {
		t.Errorf("UIDVALIDITY on a %d, on b %d", sel.UIDValidity, uidValidity)
	}
	requireBodies(t, "a after b expunged", msgs, bodies[:2])
	requireFlags(t, "a", msgs, map[int]imap.Flag{0: imap.FlagSeen, 1: imap.FlagFlagged})
	c.Logout().Wait()
	c.Close()
	bodies = append(bodies[:2], deliver(t, a, 3))
	waitFree(t, a, "alice", "a")

	c = login(t, b)
	sel, msgs = fetchAll(t, c)
	if sel.UIDValidity != uidValidity {
		t.Errorf("UIDVALIDITY on b again %d, first %d", sel.UIDValidity, uidValidity)
	}
	requireBodies(t, "b after a delivered again", msgs, bodies)
	requireFlags(t, "b again", msgs, map[int]imap.Flag{0: imap.FlagSeen, 1: imap.FlagFlagged})
	c.Logout().Wait()
	c.Close()
	for _, h := range []*host{a, b} {
		if !strings.Contains(h.store.Log(), "cluster") {
			t.Errorf("host %s: tierfs logged nothing about the cluster:\n%s", h.name, h.store.Log())
		}
	}
	stopAndCheck(t, b)
	stopAndCheck(t, a)
}

// startHost mounts host name's tierfs (sharing the persistent tiers of
// shared, if set) and starts Dovecot on it for alice.
func startHost(t *testing.T, name string, shared *dovecottest.Storage, format string) *host {
	t.Helper()
	return startHostWith(t, name, shared, format, []dovecottest.User{alice}, nil)
}

// startHostWith is startHost for users; configure, when set, is given
// the mount's root and mail settings and returns the mail settings to
// use and what to append to dovecot.conf.
func startHostWith(t *testing.T, name string, shared *dovecottest.Storage, format string, users []dovecottest.User, configure func(root, settings string) (mail, extra string)) *host {
	t.Helper()
	ctx := t.Context()
	acct, err := dovecottest.EnsureMailUser(ctx, dovecottest.DefaultMailUser)
	if err != nil {
		t.Fatal(err)
	}
	store, err := dovecottest.NewStorage(ctx, dovecottest.StorageOptions{
		Kind: dovecottest.KindTierfs, Dir: openDir(t), TierfsBin: tierfs.Path, Owner: acct,
		Cluster: &dovecottest.Cluster{Host: name, SharedWith: shared, HostTimeout: "3s", ReleaseAfter: "1s", LeaseWait: "2s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &host{name: name, store: store}
	t.Cleanup(func() {
		if h.srv != nil {
			h.srv.Close()
		}
		if err := store.Close(); err != nil {
			t.Errorf("close storage of %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("host %s: tierfs log:\n%s", name, store.Log())
			if h.srv != nil {
				t.Logf("host %s: dovecot log:\n%s", name, h.srv.Log())
			}
		}
	})
	settings, err := store.DovecotSettings(ctx, format)
	if err != nil {
		t.Fatal(err)
	}
	opts := dovecottest.Options{Dir: openDir(t), MailSettings: settings, Users: users}
	if configure != nil {
		opts.MailSettings, opts.Extra = configure(store.Root, settings)
	}
	h.srv, err = dovecottest.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// deliver sends message i to alice over h's LMTP and returns it.
func deliver(t *testing.T, h *host, i int) []byte {
	t.Helper()
	msg := dovecottest.NewMessage(dovecottest.MessageSpec{
		ID: fmt.Sprintf("%d.alice@cluster.invalid", i), From: "sender@example.net", To: alice.Name, BodySize: 2000, Seed: uint64(i + 1),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := dovecottest.DialLMTP(ctx, h.srv.LMTPAddr)
	if err != nil {
		t.Fatalf("LMTP on %s: %v", h.name, err)
	}
	defer l.Close()
	if err := l.Deliver("sender@example.net", []string{alice.Name}, msg.Bytes); err != nil {
		t.Fatalf("deliver on %s: %v", h.name, err)
	}
	return msg.Bytes
}

// waitFree waits until user's lease on the shared lease tier is free,
// last held by holder: the host let the user go.
func waitFree(t *testing.T, h *host, user, holder string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(h.store.Tiers.Fast, ".tierfs-cluster/leases/*", user))
		if len(files) == 1 {
			data, _ := os.ReadFile(files[0])
			if strings.HasPrefix(string(data), holder+" free ") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's lease not released by %s within 30s (files %v)", user, holder, files)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func login(t *testing.T, h *host) *imapclient.Client {
	t.Helper()
	c, err := dovecottest.DialIMAP(h.srv.IMAPAddr, alice.Name, alice.Password, nil)
	if err != nil {
		t.Fatalf("IMAP login on %s: %v", h.name, err)
	}
	return c
}

type fetched struct {
	UID   imap.UID
	Flags []imap.Flag
	Body  []byte
}

// fetchAll selects INBOX and fetches every message, in UID order.
func fetchAll(t *testing.T, c *imapclient.Client) (*imap.SelectData, []fetched) {
	t.Helper()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	if sel.NumMessages == 0 {
		return sel, nil
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	out := make([]fetched, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, fetched{UID: m.UID, Flags: m.Flags, Body: m.FindBodySection(section)})
	}
	slices.SortFunc(out, func(x, y fetched) int { return int(x.UID) - int(y.UID) })
	return sel, out
}

// requireBodies fails unless msgs are the messages of want, in order.
func requireBodies(t *testing.T, stage string, msgs []fetched, want [][]byte) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Fatalf("%s: %d messages, want %d", stage, len(msgs), len(want))
	}
	for i, m := range msgs {
		// LMTP adds Return-Path and Delivered-To in front.
		if !strings.HasSuffix(string(m.Body), string(want[i])) {
			t.Fatalf("%s: message %d (UID %d) differs from the one delivered", stage, i, m.UID)
		}
	}
}

// requireFlags fails unless message i has flag want[i] and no other
// flag but \Recent.
func requireFlags(t *testing.T, stage string, msgs []fetched, want map[int]imap.Flag) {
	t.Helper()
	for i, m := range msgs {
		var got []string
		for _, f := range m.Flags {
			if f != "\\Recent" {
				got = append(got, string(f))
			}
		}
		if w, ok := want[i]; ok && (len(got) != 1 || got[0] != string(w)) || !ok && len(got) != 0 {
			t.Errorf("%s: message %d (UID %d) has flags %v, want %v", stage, i, m.UID, got, want[i])
		}
	}
}

// stopAndCheck stops h's Dovecot and fails on every problem it logged.
func stopAndCheck(t *testing.T, h *host) {
	t.Helper()
	if err := h.srv.Close(); err != nil {
		t.Errorf("stop dovecot on %s: %v", h.name, err)
	}
	for _, line := range h.srv.LogProblems() {
		t.Errorf("host %s: dovecot log: %s", h.name, line)
	}
	h.srv = nil
}
