package dovecotcluster

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

var bob = dovecottest.User{Name: "bob", Password: "pw-bob"}

// publicBox is the public folder both users write.
const publicBox = "Public/Shared"

// publicLayout is a Dovecot configuration of a public maildir namespace
// at root/public, as an operator adds one to a cluster. The folder's mail
// and dovecot-uidlist are shared names (no lease: both hosts change them
// at once). Dovecot's NFS settings are on (with the mmap_disable and
// mail_fsync they require), as its documentation asks for mail several
// hosts change: their attribute flushes reach tierfs as SETATTRs that
// change nothing.
type publicLayout struct {
	name     string
	location string // %[1]s is the mount's root
	dotlock  bool
}

var publicLayouts = []publicLayout{{
	// The index per user, beneath the user's leased index directory: no
	// index file is written by two hosts.
	name:     "index per user",
	location: "maildir:%[1]s/public:INDEX=%[1]s/index/%%2.256Nu/%%u/public",
}, {
	// One index in the folder, written by both hosts: its locks must be
	// dotlocks, because fcntl and flock locks are the host's own.
	name:     "shared index",
	location: "maildir:%[1]s/public",
	dotlock:  true,
}}

// dovecot adapts a host's mail settings to the layout and returns them
// with the namespace's configuration. Dotlocks need a mail_location
// without VOLATILEDIR (README: Shared names).
func (l publicLayout) dovecot(root, settings string) (mail, extra string) {
	extra = dovecottest.PublicNamespace(fmt.Sprintf(l.location, root)) + `mail_nfs_storage = yes
mail_nfs_index = yes
mmap_disable = yes
mail_fsync = always
`
	if l.dotlock {
		return dovecottest.WithoutVolatileDir(settings), extra + "lock_method = dotlock\n"
	}
	return settings, extra
}

// Two hosts serve alice (on a) and bob (on b) at the same time, and both
// append to one public maildir folder at once. Both hosts must then list
// the same messages under the same UIDs, each message once; flags one
// host stores show on the other, and so does an expunge, within a few
// seconds (the shared names' attribute timeout is 1 s). Neither Dovecot
// logs an error.
func TestTwoHostsPublicFolder(t *testing.T) {
	tierfs.Require(t)
	for _, l := range publicLayouts {
		t.Run(l.name, func(t *testing.T) { runPublicFolder(t, l) })
	}
}

func runPublicFolder(t *testing.T, l publicLayout) {
	users := []dovecottest.User{alice, bob}
	a := startHostWith(t, "a", nil, "maildir", users, l.dovecot)
	b := startHostWith(t, "b", a.store, "maildir", users, l.dovecot)
	public := filepath.Join(a.store.Root, "public")
	if err := os.MkdirAll(public, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(public, a.srv.Account.UID, a.srv.Account.GID); err != nil {
		t.Fatal(err)
	}
	ca, cb := loginAs(t, a, alice), loginAs(t, b, bob)
	defer ca.Close()
	defer cb.Close()
	if err := ca.Create(publicBox, nil).Wait(); err != nil {
		t.Fatalf("CREATE %s on a: %v", publicBox, err)
	}

	const n = 15
	want := map[string]bool{} // Message-IDs
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, w := range []struct {
		c    *imapclient.Client
		host string
	}{{ca, "a"}, {cb, "b"}} {
		var msgs []dovecottest.Message
		for i := range n {
			id := fmt.Sprintf("%s-%d@public.invalid", w.host, i)
			want[id] = true
			msgs = append(msgs, dovecottest.NewMessage(dovecottest.MessageSpec{
				ID: id, From: "sender@example.net", To: "public@example.net", BodySize: 1500, Seed: uint64(len(want)),
			}))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range msgs {
				if err := appendTo(w.c, publicBox, m); err != nil {
					errs <- fmt.Errorf("host %s: %w", w.host, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Both hosts list every message once, under one UID.
	va, vb := publicView(t, ca), publicView(t, cb)
	if len(va) != 2*n {
		t.Fatalf("a lists %d messages, want %d: %v", len(va), 2*n, va)
	}
	if !maps.EqualFunc(va, vb, func(x, y publicMsg) bool { return x.id == y.id }) {
		t.Fatalf("the hosts disagree on UIDs:\na %v\nb %v", va, vb)
	}
	seen := map[string]bool{}
	for uid, m := range va {
		if !want[m.id] || seen[m.id] {
			t.Fatalf("UID %d is %q: unknown or listed twice (a %v)", uid, m.id, va)
		}
		seen[m.id] = true
	}

	// a flags b's messages \Seen and one \Flagged; b sees it.
	var bs imap.UIDSet
	var flagged imap.UID
	for uid, m := range va {
		if m.id[0] == 'b' {
			bs.AddNum(uid)
			flagged = uid
		}
	}
	dovecottest.StoreFlags(t, ca, bs, imap.FlagSeen)
	dovecottest.StoreFlags(t, ca, imap.UIDSetNum(flagged), imap.FlagFlagged)
	waitView(t, "b sees a's flags", cb, func(v map[imap.UID]publicMsg) bool {
		for uid, m := range v {
			isB := m.id[0] == 'b'
			if m.has(imap.FlagSeen) != isB || m.has(imap.FlagFlagged) != (uid == flagged) {
				return false
			}
		}
		return len(v) == 2*n
	})

	// b expunges five of a's messages; a sees the rest, UIDs unchanged.
	var gone imap.UIDSet
	kept := maps.Clone(va)
	for _, uid := range slices.Sorted(maps.Keys(va)) {
		if va[uid].id[0] == 'a' && len(kept) > 2*n-5 {
			gone.AddNum(uid)
			delete(kept, uid)
		}
	}
	dovecottest.StoreFlags(t, cb, gone, imap.FlagDeleted)
	if err := cb.Expunge().Close(); err != nil {
		t.Fatalf("EXPUNGE on b: %v", err)
	}
	waitView(t, "a sees b's expunge", ca, func(v map[imap.UID]publicMsg) bool {
		return maps.EqualFunc(v, kept, func(x, y publicMsg) bool { return x.id == y.id })
	})

	// A delivery creates alice's INBOX, which locks her mailbox list:
	// under dotlocks that fails with a VOLATILEDIR the tmpfs tier does
	// not have yet.
	body := deliver(t, a, 1)
	if _, msgs := fetchAll(t, ca); len(msgs) != 1 || !strings.HasSuffix(string(msgs[0].Body), string(body)) {
		t.Fatalf("alice's INBOX on a: %d messages, want the one delivered", len(msgs))
	}

	ca.Logout().Wait()
	cb.Logout().Wait()
	stopAndCheck(t, b)
	stopAndCheck(t, a)
}

// loginAs logs u in on h's IMAP.
func loginAs(t *testing.T, h *host, u dovecottest.User) *imapclient.Client {
	t.Helper()
	c, err := dovecottest.DialIMAP(h.srv.IMAPAddr, u.Name, u.Password, nil)
	if err != nil {
		t.Fatalf("IMAP login %s on %s: %v", u.Name, h.name, err)
	}
	return c
}

// appendTo APPENDs m to box.
func appendTo(c *imapclient.Client, box string, m dovecottest.Message) error {
	cmd := c.Append(box, int64(len(m.Bytes)), nil)
	if _, err := cmd.Write(m.Bytes); err != nil {
		return fmt.Errorf("APPEND %s: %w", m.ID, err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("APPEND %s: %w", m.ID, err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("APPEND %s: %w", m.ID, err)
	}
	return nil
}

// publicMsg is one message of the public folder as a host lists it.
type publicMsg struct {
	id    string // Message-ID
	flags []imap.Flag
}

func (m publicMsg) has(f imap.Flag) bool { return slices.Contains(m.flags, f) }

func (m publicMsg) String() string { return fmt.Sprintf("%s%v", m.id, m.flags) }

// publicView selects the public folder afresh and returns its messages
// by UID.
func publicView(t *testing.T, c *imapclient.Client) map[imap.UID]publicMsg {
	t.Helper()
	v, err := view(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func view(c *imapclient.Client) (map[imap.UID]publicMsg, error) {
	if c.Mailbox() != nil {
		if err := c.Unselect().Wait(); err != nil {
			return nil, fmt.Errorf("UNSELECT: %w", err)
		}
	}
	sel, err := c.Select(publicBox, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("SELECT %s: %w", publicBox, err)
	}
	v := map[imap.UID]publicMsg{}
	if sel.NumMessages == 0 {
		return v, nil
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("FETCH: %w", err)
	}
	for _, m := range msgs {
		v[m.UID] = publicMsg{id: m.Envelope.MessageID, flags: m.Flags}
	}
	return v, nil
}

// waitView polls c's view of the public folder until ok accepts it, for
// up to 10 s: another host's change shows once the shared names'
// attribute timeout passed and Dovecot synced the folder.
func waitView(t *testing.T, stage string, c *imapclient.Client, ok func(map[imap.UID]publicMsg) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := view(c)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s; last view %v", stage, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
