package dovecotmover

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// adoptScript is the README's "Moving an existing installation onto
// tierfs", run on the old trees with Dovecot stopped and before tierfs
// is initialised: the NFS export's hashed user directories go under
// mail/, the local index directories (if INDEX pointed there) under
// index/, and the control files and any indexes kept with the mail
// follow the preset's CONTROL and INDEX from the mail into the index
// tree.
const adoptScript = `
to_index() { # FILE DIR: FILE, relative to the mail tree, into DIR of the index tree
  mkdir -p "$FAST/index/$2"
  cp -p "$1" "$FAST/index/$2/" && rm "$1"
}
mkdir "$SLOW/mail"
mv "$SLOW"/[0-9a-f][0-9a-f] "$SLOW/mail/"
mkdir -p "$FAST/index"
set -- "$FAST"/[0-9a-f][0-9a-f]
if [ -e "$1" ]; then mv "$@" "$FAST/index/"; fi
cd "$SLOW/mail"
find . "$FAST/index" -type f -name 'dovecot.list.index*' -exec rm {} +
if [ "$FORMAT" = maildir ]; then
  for f in ./*/*/dovecot-uidlist ./*/*/dovecot-keywords ./*/*/dovecot.index*; do
    if [ -f "$f" ]; then to_index "$f" "${f%/*}/.INBOX"; fi
  done
  find . -type f \( -name dovecot-uidlist -o -name dovecot-keywords -o -name 'dovecot.index*' \
    -o -name subscriptions -o -name 'dovecot-uidvalidity*' -o -name dovecot.mailbox.log \) |
  while read -r f; do to_index "$f" "${f%/*}"; done
else
  find . -type f \( -name 'dovecot.index*' -o -name 'dovecot.map.index*' -o -name dovecot.mailbox.log \) |
  while read -r f; do d=${f%/*}; to_index "$f" "${d%/dbox-Mails}"; done
fi
chown "$OWNER" "$SLOW/mail"
chown -R "$OWNER" "$FAST/index"
`

// An installation that follows Dovecot's NFS guide (mail on the NFS
// export, indexes on a local disk or with the mail, VOLATILEDIR apart)
// moves onto tierfs in place with adoptScript: the export becomes the
// slow tier and the index disk the fast one; only control files and
// indexes kept with the mail are copied.
// Afterwards every mailbox has the same UIDVALIDITY, UIDNEXT, messages,
// UIDs, flags and keywords, the subscriptions are kept, new mail takes
// the next UID, old mail stays on slow while the mover brings young
// mail to fast, and Dovecot logs no error.
func TestAdoptNFSGuideInstall(t *testing.T) {
	tierfs.Require(t)
	for _, format := range []string{"maildir", "sdbox", "mdbox"} {
		for _, where := range []string{"index-local", "index-with-mail"} {
			t.Run(format+"/"+where, func(t *testing.T) { runAdopt(t, format, where == "index-local") })
		}
	}
}

// runAdopt adopts an installation of format whose indexes are on a
// local disk (INDEX) or kept with the mail on the export.
func runAdopt(t *testing.T, format string, indexLocal bool) {
	ctx := t.Context()
	acct, err := dovecottest.EnsureMailUser(ctx, dovecottest.DefaultMailUser)
	if err != nil {
		t.Fatal(err)
	}
	dir := openDir(t)
	slow, fast, vol := filepath.Join(dir, "slow"), filepath.Join(dir, "fast"), filepath.Join(dir, "volatile")
	for _, d := range []string{slow, fast, vol} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, acct.UID, acct.GID); err != nil {
			t.Fatal(err)
		}
	}
	index := ""
	if indexLocal {
		index = ":INDEX=" + fast + "/%2.256Nu/%u"
	}
	old := fmt.Sprintf("mail_location = %s:%s/%%2.256Nu/%%u%s:VOLATILEDIR=%s/%%2.256Nu/%%u\n"+
		"mail_fsync = always\n", format, slow, index, vol)
	before := fillOldInstall(t, old)
	ageMail(t, filepath.Join(slow, userDir("alice")), format)

	cmd := exec.CommandContext(ctx, "sh", "-ec", adoptScript)
	cmd.Env = append(os.Environ(), "SLOW="+slow, "FAST="+fast, "FORMAT="+format, fmt.Sprintf("OWNER=%d:%d", acct.UID, acct.GID))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("adopt script: %v\n%s", err, out)
	}
	inbox := filepath.Join(fast, "index", userDir("alice"), "mailboxes", "INBOX")
	if format == "maildir" {
		inbox = filepath.Join(fast, "index", userDir("alice"), ".INBOX")
		if _, err := os.Stat(filepath.Join(inbox, "dovecot-uidlist")); err != nil {
			t.Fatalf("premise: the script moved no uidlist into the index tree: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(inbox, "dovecot.index.log")); err != nil {
		t.Fatalf("premise: no INBOX index in the index tree: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(slow, "mail", userDir("alice"), "*", "*", "*", "dovecot.index*")); len(left) != 0 {
		t.Fatalf("premise: indexes left in the mail tree: %v", left)
	}

	store := newAgingStorage(t, dir, acct)
	settings, err := store.DovecotSettings(ctx, format)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dovecottest.Start(ctx, dovecottest.Options{Dir: openDir(t), MailSettings: settings, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, store: store, srv: srv}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("dovecot log:\n%s", srv.Log())
		}
	})
	for _, u := range users {
		c := e.login(u)
		if got := snapshot(t, c); !sameMailboxes(t, u.Name, got, before[u.Name]) {
			t.Errorf("%s: mailboxes after adoption differ from before", u.Name)
		}
		c.Logout().Wait()
		c.Close()
	}
	checkNextUID(t, e, before["alice"]["INBOX"].UIDNext)

	// Adopted mail stays on slow, young or old: the mover demotes and
	// never promotes. New mail lands on fast (with mdbox, once the
	// current storage file rotates).
	if r := e.migrate(); r.Failed != 0 || r.Files != 0 {
		t.Errorf("pass after adoption: %+v, want nothing moved and nothing failed", r)
	}
	if format != "mdbox" { // mdbox appends new mail to the current storage file
		checkAdoptedPlacement(t, e, format, before)
	}
	if out, err := store.Tierfs(ctx, "check", "--config", store.ConfigPath, store.Root); err != nil {
		t.Errorf("tierfs check after the pass: %v\n%s", err, out)
	}
	for _, u := range users {
		c := e.login(u)
		got := snapshot(t, c)
		c.Close()
		delete(got["INBOX"].byUID, before["alice"]["INBOX"].UIDNext) // the new message
		sameMailboxes(t, u.Name+" after the pass", withoutNext(got), withoutNext(before[u.Name]))
	}
	if err := srv.Close(); err != nil {
		t.Errorf("stop dovecot: %v", err)
	}
	for _, line := range srv.LogProblems() {
		t.Errorf("dovecot log: %s", line)
	}
}

// checkAdoptedPlacement checks, for a format with one file per message,
// that bob's young mail stayed on slow, alice's aged mail too, and the
// one message delivered after adoption is on fast.
func checkAdoptedPlacement(t *testing.T, e *env, format string, before map[string]map[string]mailbox) {
	t.Helper()
	slow, fast := e.store.Tiers.Slow, e.store.Tiers.Fast
	if got := youngMail(t, filepath.Join(slow, "mail", userDir("bob")), format); len(got) != len(before["bob"]["INBOX"].byUID) {
		t.Errorf("bob's mail on slow after the pass: %v, want his %d messages", got, len(before["bob"]["INBOX"].byUID))
	}
	if got := youngMail(t, filepath.Join(fast, "mail", userDir("alice")), format); len(got) != 1 {
		t.Errorf("alice's mail on fast: %v, want the one delivered after adoption", got)
	}
	if got, want := len(e.oldMail(format, dovecottest.TierSlow)), len(before["alice"]["INBOX"].byUID)+len(before["alice"]["Archive"].byUID); got != want {
		t.Errorf("%d aged message files on slow after the pass, want alice's %d", got, want)
	}
	if got := e.oldMail(format, dovecottest.TierFast); len(got) != 0 {
		t.Errorf("aged mail on fast after the pass: %v", got)
	}
}

// mailbox is what a client remembers of a mailbox between sessions.
type mailbox struct {
	UIDValidity uint32
	UIDNext     imap.UID
	Subscribed  bool
	byUID       map[imap.UID]message
}

type message struct {
	Flags string // sorted, without \Recent
	Body  []byte
}

// fillOldInstall runs Dovecot with the old settings, delivers mail to
// both users, gives alice a subscribed folder with two messages moved
// into it, flags, a keyword and an expunge, and returns every
// mailbox as IMAP shows it. Dovecot is stopped when it returns.
func fillOldInstall(t *testing.T, settings string) map[string]map[string]mailbox {
	srv, err := dovecottest.Start(t.Context(), dovecottest.Options{Dir: openDir(t), MailSettings: settings, Users: users, MmapDisable: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), srv: srv, want: map[string]map[string][]byte{}}
	defer srv.Close()
	for range 6 {
		e.deliver("alice", 2500)
	}
	for range 3 {
		e.deliver("bob", 2500)
	}
	c := e.login(users[0])
	for _, cmd := range []interface{ Wait() error }{c.Create("Archive", nil), c.Subscribe("Archive")} {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("CREATE/SUBSCRIBE Archive: %v", err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(1, 2), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	dovecottest.StoreFlags(t, c, imap.UIDSetNum(3), imap.FlagSeen)
	dovecottest.StoreFlags(t, c, imap.UIDSetNum(4), imap.FlagFlagged, "$Work")
	dovecottest.StoreFlags(t, c, imap.UIDSetNum(5), imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("EXPUNGE: %v", err)
	}
	out := map[string]map[string]mailbox{"alice": snapshot(t, c)}
	c.Close()
	c = e.login(users[1])
	out["bob"] = snapshot(t, c)
	c.Close()
	if err := srv.Close(); err != nil {
		t.Fatalf("stop the old dovecot: %v", err)
	}
	if bad := srv.LogProblems(); len(bad) != 0 {
		t.Fatalf("premise: the old installation logged problems: %v", bad)
	}
	if n := len(out["alice"]["Archive"].byUID); n != 2 || !out["alice"]["Archive"].Subscribed {
		t.Fatalf("premise: Archive has %d messages (want 2), subscribed %v", n, out["alice"]["Archive"].Subscribed)
	}
	return out
}

// snapshot lists every mailbox with its UIDVALIDITY, UIDNEXT,
// subscription and messages.
func snapshot(t *testing.T, c *imapclient.Client) map[string]mailbox {
	t.Helper()
	all, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatalf("LIST (SUBSCRIBED): %v", err)
	}
	out := map[string]mailbox{}
	for _, l := range all {
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("SELECT %s: %v", l.Mailbox, err)
		}
		mb := mailbox{UIDValidity: sel.UIDValidity, UIDNext: sel.UIDNext, byUID: map[imap.UID]message{}}
		mb.Subscribed = slices.ContainsFunc(subs, func(s *imap.ListData) bool { return s.Mailbox == l.Mailbox })
		if sel.NumMessages > 0 {
			var set imap.SeqSet
			set.AddRange(1, 0)
			section := &imap.FetchItemBodySection{Peek: true}
			msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
			if err != nil {
				t.Fatalf("FETCH %s: %v", l.Mailbox, err)
			}
			for _, m := range msgs {
				mb.byUID[m.UID] = message{Flags: flagString(m.Flags), Body: m.FindBodySection(section)}
			}
		}
		out[l.Mailbox] = mb
	}
	return out
}

func flagString(fs []imap.Flag) string {
	var s []string
	for _, f := range fs {
		if f != `\Recent` {
			s = append(s, string(f))
		}
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// sameMailboxes reports (and logs) every difference between got and
// want.
func sameMailboxes(t *testing.T, who string, got, want map[string]mailbox) bool {
	t.Helper()
	same := true
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: mailbox %s missing", who, name)
			same = false
			continue
		}
		if g.UIDValidity != w.UIDValidity || g.UIDNext != w.UIDNext || g.Subscribed != w.Subscribed {
			t.Errorf("%s: %s: UIDVALIDITY %d UIDNEXT %d subscribed %v, want %d %d %v", who, name,
				g.UIDValidity, g.UIDNext, g.Subscribed, w.UIDValidity, w.UIDNext, w.Subscribed)
			same = false
		}
		for uid, wm := range w.byUID {
			gm, ok := g.byUID[uid]
			if !ok || gm.Flags != wm.Flags || !bytes.Equal(gm.Body, wm.Body) {
				t.Errorf("%s: %s UID %d: flags %q (present %v), want %q; body same %v", who, name, uid, gm.Flags, ok, wm.Flags, bytes.Equal(gm.Body, wm.Body))
				same = false
			}
		}
		if len(g.byUID) != len(w.byUID) {
			t.Errorf("%s: %s has %d messages, want %d", who, name, len(g.byUID), len(w.byUID))
			same = false
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d mailboxes, want %d", who, len(got), len(want))
		same = false
	}
	return same
}

// withoutNext drops UIDNEXT, which new mail moves on.
func withoutNext(m map[string]mailbox) map[string]mailbox {
	out := map[string]mailbox{}
	for k, v := range m {
		v.UIDNext = 0
		out[k] = v
	}
	return out
}

// checkNextUID delivers one message to alice and checks that it got the
// UID the old installation would have given it next.
func checkNextUID(t *testing.T, e *env, next imap.UID) {
	t.Helper()
	e.want = map[string]map[string][]byte{}
	e.deliver("alice", 1000)
	c := e.login(users[0])
	defer c.Close()
	got := snapshot(t, c)["INBOX"]
	if _, ok := got.byUID[next]; !ok || got.UIDNext != next+1 {
		t.Errorf("new message: UIDs %v, UIDNEXT %d; want UID %d", slices.Sorted(maps.Keys(got.byUID)), got.UIDNext, next)
	}
}

// userDir is a user's directory as %2.256Nu/%u names it.
func userDir(user string) string { return filepath.Join(policy.UserHash(user), user) }

// ageMail backdates the message files under dir by 40 days.
func ageMail(t *testing.T, dir, format string) {
	t.Helper()
	old := time.Now().Add(-40 * 24 * time.Hour)
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !dovecottest.IsMessageFile(format, p) {
			return err
		}
		n++
		return os.Chtimes(p, old, old)
	})
	if err != nil || n == 0 {
		t.Fatalf("age mail under %s: %d files, %v", dir, n, err)
	}
}

// youngMail lists the message files under dir newer than 30 days.
func youngMail(t *testing.T, dir, format string) []string {
	t.Helper()
	var out []string
	limit := time.Now().Add(-30 * 24 * time.Hour)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !dovecottest.IsMessageFile(format, p) {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(limit) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
