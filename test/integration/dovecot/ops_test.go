package dovecot

import (
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// keyword is the IMAP keyword the suite stores; it must survive restarts.
const keyword imap.Flag = "$TierfsKeyword"

// imapOperations runs the mailbox operations on user (whose INBOX holds
// want[user], UIDs 1..n in delivery order) and checks each one's result,
// updating want with the mailboxes it creates.
func imapOperations(t *testing.T, f *fixture, user string, want map[string]mailbox) {
	c := login(t, f, user)
	names, delim := listNames(t, c)
	if !slices.Contains(names, "INBOX") {
		t.Fatalf("LIST: no INBOX in %v", names)
	}
	_, inbox := fetchAll(t, c, "INBOX")
	checkBodies(t, user+" INBOX", inbox, want[user])
	if len(inbox) < 20 {
		t.Fatalf("%s INBOX has %d messages, the scenario needs 20", user, len(inbox))
	}
	uid := func(i int) imap.UID { return inbox[i].UID }
	byUID := map[imap.UID]fetched{}
	for _, m := range inbox {
		byUID[m.UID] = m
	}

	// STORE: flags and a keyword on ten messages, then one flag removed.
	first10 := imap.UIDSetNum()
	for i := range 10 {
		first10.AddNum(uid(i))
	}
	store(t, c, first10, imap.StoreFlagsAdd, imap.FlagSeen, imap.FlagFlagged, keyword)
	store(t, c, imap.UIDSetNum(uid(4)), imap.StoreFlagsDel, imap.FlagFlagged)
	store(t, c, imap.UIDSetNum(uid(12)), imap.StoreFlagsAdd, imap.FlagAnswered)
	flags := fetchFlags(t, c, first10)
	for i := range 10 {
		wantFlags := dovecottest.FlagString([]imap.Flag{imap.FlagSeen, imap.FlagFlagged, keyword})
		if i == 4 {
			wantFlags = dovecottest.FlagString([]imap.Flag{imap.FlagSeen, keyword})
		}
		if got := flags[uid(i)]; got != wantFlags {
			t.Errorf("after STORE: UID %d flags %q, want %q", uid(i), got, wantFlags)
		}
	}

	// CREATE and COPY: five messages into a new mailbox, flags copied.
	archive := "Archive"
	if err := c.Create(archive, nil).Wait(); err != nil {
		t.Fatalf("CREATE %s: %v", archive, err)
	}
	copySet := imap.UIDSetNum(uid(0), uid(1), uid(2), uid(3), uid(4))
	if _, err := c.Copy(copySet, archive).Wait(); err != nil {
		t.Fatalf("COPY to %s: %v", archive, err)
	}
	want[user+"/"+archive] = mailbox{}
	for i := range 5 {
		m := inbox[i]
		want[user+"/"+archive][messageID(m.Body)] = want[user][messageID(m.Body)]
	}

	// EXPUNGE: five messages flagged \Deleted disappear.
	del := imap.UIDSetNum(uid(13), uid(14), uid(15), uid(16), uid(17))
	store(t, c, del, imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("EXPUNGE: %v", err)
	}
	for _, u := range []imap.UID{uid(13), uid(14), uid(15), uid(16), uid(17)} {
		delete(want[user], messageID(byUID[u].Body))
	}
	_, after := fetchAll(t, c, "INBOX")
	checkBodies(t, user+" INBOX after EXPUNGE", after, want[user])
	if got, wantN := len(after), len(inbox)-5; got != wantN {
		t.Errorf("INBOX after EXPUNGE: %d messages, want %d", got, wantN)
	}

	_, archived := fetchAll(t, c, archive)
	checkBodies(t, user+" "+archive, archived, want[user+"/"+archive])
	for _, m := range archived {
		src := inbox[slices.IndexFunc(inbox[:5], func(x fetched) bool { return messageID(x.Body) == messageID(m.Body) })]
		if got, w := dovecottest.FlagString(m.Flags), flags[src.UID]; got != w {
			t.Errorf("%s: copied UID %d flags %q, want %q as in INBOX", archive, m.UID, got, w)
		}
	}

	// APPEND with flags, a keyword and an internal date.
	sent := "Sent"
	if err := c.Create(sent, nil).Wait(); err != nil {
		t.Fatalf("CREATE %s: %v", sent, err)
	}
	msg := dovecottest.NewMessage(dovecottest.MessageSpec{
		ID: "append-1@dovecottest.invalid", From: user, To: "someone@example.net", BodySize: 50_000, Seed: 99,
	})
	appendMsg(t, c, sent, msg, []imap.Flag{imap.FlagSeen, keyword})
	want[user+"/"+sent] = mailbox{msg.ID: msg}
	_, sentMsgs := fetchAll(t, c, sent)
	checkBodies(t, user+" "+sent, sentMsgs, want[user+"/"+sent])
	if len(sentMsgs) == 1 {
		if got, w := dovecottest.FlagString(sentMsgs[0].Flags), dovecottest.FlagString([]imap.Flag{imap.FlagSeen, keyword}); got != w {
			t.Errorf("APPENDed message flags %q, want %q", got, w)
		}
	}

	// CREATE a hierarchy, RENAME its parent, DELETE a mailbox with mail.
	projects, q1 := "Projects", "Projects"+delim+"Q1"
	for _, name := range []string{projects, q1, "Doomed"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	appendMsg(t, c, q1, msg, nil)
	appendMsg(t, c, "Doomed", msg, nil)
	if err := c.Rename(projects, "Work", nil).Wait(); err != nil {
		t.Fatalf("RENAME %s Work: %v", projects, err)
	}
	if err := c.Delete("Doomed").Wait(); err != nil {
		t.Fatalf("DELETE Doomed: %v", err)
	}
	want[user+"/Work"+delim+"Q1"] = mailbox{msg.ID: msg}
	names, _ = listNames(t, c)
	wantNames := []string{"Archive", "INBOX", "Sent", "Work", "Work" + delim + "Q1"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("LIST after CREATE/RENAME/DELETE: %v, want %v", names, wantNames)
	}
	_, q1Msgs := fetchAll(t, c, "Work"+delim+"Q1")
	checkBodies(t, user+" renamed Q1", q1Msgs, want[user+"/Work"+delim+"Q1"])
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}

// store runs UID STORE and waits for its completion.
func store(t *testing.T, c *imapclient.Client, set imap.NumSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("STORE %v %v: %v", op, flags, err)
	}
}

// fetchFlags returns the canonical flags of every message in set.
func fetchFlags(t *testing.T, c *imapclient.Client, set imap.NumSet) map[imap.UID]string {
	t.Helper()
	msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatalf("FETCH FLAGS: %v", err)
	}
	out := map[imap.UID]string{}
	for _, m := range msgs {
		out[m.UID] = dovecottest.FlagString(m.Flags)
	}
	return out
}

// appendMsg APPENDs msg to box with flags and a fixed internal date.
func appendMsg(t *testing.T, c *imapclient.Client, box string, msg dovecottest.Message, flags []imap.Flag) {
	t.Helper()
	cmd := c.Append(box, int64(len(msg.Bytes)), &imap.AppendOptions{
		Flags: flags, Time: time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC),
	})
	if _, err := cmd.Write(msg.Bytes); err != nil {
		t.Fatalf("APPEND %s: %v", box, err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("APPEND %s: %v", box, err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND %s: %v", box, err)
	}
}
