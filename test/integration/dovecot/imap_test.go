package dovecot

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// login opens an IMAP session for user, logged out at cleanup.
func login(t *testing.T, f *fixture, user string) *imapclient.Client {
	t.Helper()
	c, err := dovecottest.DialIMAP(f.srv.IMAPAddr, user, f.passwords[user], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fetched is one message as IMAP returned it.
type fetched struct {
	UID   imap.UID
	Flags []imap.Flag
	Body  []byte
}

// fetchAll selects box and fetches UID, FLAGS and BODY.PEEK[] of every
// message, returning the SELECT data too.
func fetchAll(t *testing.T, c *imapclient.Client, box string) (*imap.SelectData, []fetched) {
	t.Helper()
	sel, err := c.Select(box, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", box, err)
	}
	if sel.NumMessages == 0 {
		return sel, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(dovecottest.AllSeqs(), &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH %s: %v", box, err)
	}
	out := make([]fetched, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, fetched{UID: m.UID, Flags: m.Flags, Body: m.FindBodySection(section)})
	}
	return sel, out
}

// checkBodies fails unless box holds exactly the messages of want, each
// byte-equal to what was delivered (after the trace headers Dovecot
// prepends on delivery).
func checkBodies(t *testing.T, what string, got []fetched, want mailbox) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range got {
		id := messageID(m.Body)
		w, ok := want[id]
		if !ok {
			t.Errorf("%s: UID %d: unexpected message %q (%d bytes)", what, m.UID, id, len(m.Body))
			continue
		}
		seen[id]++
		if body := dovecottest.StripTrace(m.Body); !bytes.Equal(body, w.Bytes) {
			t.Errorf("%s: UID %d (%s): body differs: got %d bytes, want %d (first difference at byte %d)",
				what, m.UID, id, len(body), len(w.Bytes), firstDiff(body, w.Bytes))
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s: message %s present %d times, want once", what, id, seen[id])
		}
	}
}

// messageID returns the Message-ID header's value without brackets.
func messageID(msg []byte) string {
	hdr, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
			return strings.Trim(v, "<>")
		}
	}
	return ""
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// listNames returns the mailbox names LIST "" "*" shows and the hierarchy
// delimiter.
func listNames(t *testing.T, c *imapclient.Client) ([]string, string) {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	var names []string
	delim := "/"
	for _, l := range list {
		if l.Delim != 0 {
			delim = string(l.Delim)
		}
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) {
			continue
		}
		names = append(names, l.Mailbox)
	}
	slices.Sort(names)
	return names, delim
}

// msgState is what must survive a restart of one message.
type msgState struct {
	Flags string
	Size  int
	Sum   [32]byte
}

// boxState is what must survive a restart of one mailbox.
type boxState struct {
	UIDValidity uint32
	UIDNext     imap.UID
	Msgs        map[imap.UID]msgState
}

// snapshot records every mailbox of every user: UIDVALIDITY, UIDNEXT and
// each UID's flags (without \Recent, which is per session) and body hash.
func snapshot(t *testing.T, f *fixture, users []string) map[string]map[string]boxState {
	t.Helper()
	all := map[string]map[string]boxState{}
	for _, u := range users {
		c, err := dovecottest.DialIMAP(f.srv.IMAPAddr, u, f.passwords[u], nil)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := listNames(t, c)
		boxes := map[string]boxState{}
		for _, name := range names {
			sel, msgs := fetchAll(t, c, name)
			bs := boxState{UIDValidity: sel.UIDValidity, UIDNext: sel.UIDNext, Msgs: map[imap.UID]msgState{}}
			for _, m := range msgs {
				bs.Msgs[m.UID] = msgState{Flags: dovecottest.FlagString(m.Flags), Size: len(m.Body), Sum: sha256.Sum256(m.Body)}
			}
			boxes[name] = bs
		}
		c.Logout().Wait()
		c.Close()
		all[u] = boxes
	}
	return all
}

// compareSnapshots reports every difference between two snapshots.
func compareSnapshots(t *testing.T, stage string, before, after map[string]map[string]boxState) {
	t.Helper()
	for u, boxes := range before {
		for name, b := range boxes {
			a, ok := after[u][name]
			if !ok {
				t.Errorf("%s: %s: mailbox %q lost", stage, u, name)
				continue
			}
			if a.UIDValidity != b.UIDValidity || a.UIDNext != b.UIDNext {
				t.Errorf("%s: %s/%s: UIDVALIDITY %d UIDNEXT %d, was %d %d", stage, u, name,
					a.UIDValidity, a.UIDNext, b.UIDValidity, b.UIDNext)
			}
			for uid, m := range b.Msgs {
				am, ok := a.Msgs[uid]
				switch {
				case !ok:
					t.Errorf("%s: %s/%s: UID %d lost", stage, u, name, uid)
				case am != m:
					t.Errorf("%s: %s/%s: UID %d changed: flags %q size %d, was flags %q size %d (same body: %v)",
						stage, u, name, uid, am.Flags, am.Size, m.Flags, m.Size, am.Sum == m.Sum)
				}
			}
			for uid := range a.Msgs {
				if _, ok := b.Msgs[uid]; !ok {
					t.Errorf("%s: %s/%s: UID %d appeared", stage, u, name, uid)
				}
			}
		}
		for name := range after[u] {
			if _, ok := boxes[name]; !ok {
				t.Errorf("%s: %s: mailbox %q appeared", stage, u, name)
			}
		}
	}
}

// boxSummary describes a snapshot briefly, for logs.
func boxSummary(s map[string]map[string]boxState) string {
	var b strings.Builder
	for _, u := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(&b, "%s:", u)
		for _, name := range slices.Sorted(maps.Keys(s[u])) {
			fmt.Fprintf(&b, " %s=%d", name, len(s[u][name].Msgs))
		}
		b.WriteString("; ")
	}
	return b.String()
}
