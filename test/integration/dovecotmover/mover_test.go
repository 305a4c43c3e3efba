package dovecotmover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

var users = []dovecottest.User{{Name: "alice", Password: "pw-alice"}, {Name: "bob", Password: "pw-bob"}}

// Mail is delivered and aged; the mover demotes it while IMAP sessions
// fetch and LMTP delivers. Afterwards every message reads back byte for
// byte over IMAP, the aged message files are on slow, the indexes stayed
// on fast, and Dovecot logged no error.
func TestMoverUnderDovecot(t *testing.T) {
	tierfs.Require(t)
	for _, format := range []string{"maildir", "sdbox", "mdbox"} {
		t.Run(format, func(t *testing.T) { runFormat(t, format) })
	}
}

// env is one Dovecot on one tierfs storage.
type env struct {
	t     *testing.T
	ctx   context.Context
	store *dovecottest.Storage
	srv   *dovecottest.Server
	mu    sync.Mutex
	want  map[string]map[string][]byte // user → Message-ID → bytes
	seq   atomic.Int64
}

func runFormat(t *testing.T, format string) {
	e := setup(t, format)
	for _, u := range users {
		for range 8 {
			e.deliver(u.Name, 3000)
		}
	}
	e.deliver("alice", 300000) // one big message
	aged := e.age(format)
	if len(aged) < 2 {
		t.Fatalf("premise: only %d %s message files found to age", len(aged), format)
	}

	// Passes run while two IMAP sessions fetch and LMTP delivers.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.login(u)
			defer c.Close()
			for !stop.Load() {
				e.checkMailbox(c, u.Name, false)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			e.deliver(users[int(e.seq.Load())%2].Name, 2000)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for range 2 {
		r := e.migrate()
		t.Logf("pass under load: %d files, %d bytes, skipped %v", r.Files, r.Bytes, r.Skipped)
	}
	stop.Store(true)
	wg.Wait()
	if r := e.migrate(); r.Failed != 0 {
		t.Errorf("final pass: %+v", r)
	}

	// Maildir renames messages (new/ to cur/, flag changes), so files
	// are told by age, not by the path they had when aged.
	oldOnFast, oldOnSlow := e.oldMail(format, dovecottest.TierFast), e.oldMail(format, dovecottest.TierSlow)
	for _, p := range oldOnFast {
		t.Errorf("%s: aged message file still on fast after the passes", p)
	}
	if len(oldOnSlow) != len(aged) {
		t.Errorf("%d aged message files on slow, want the %d aged", len(oldOnSlow), len(aged))
	}
	for _, p := range oldOnSlow {
		if got := e.holders(p); len(got) != 1 {
			t.Errorf("%s: on tiers %v, want only slow", p, got)
		}
	}
	e.checkIndexesOnFast()
	e.readAllAndStop()
}

func setup(t *testing.T, format string) *env {
	ctx := t.Context()
	acct, err := dovecottest.EnsureMailUser(ctx, dovecottest.DefaultMailUser)
	if err != nil {
		t.Fatal(err)
	}
	store := newAgingStorage(t, openDir(t), acct)
	settings, err := store.DovecotSettings(ctx, format)
	if err != nil {
		t.Fatal(err)
	}
	if format == "mdbox" {
		// One storage file per message or two, so that old files are not
		// appended to by new deliveries.
		settings += "\nmdbox_rotate_size = 4k\n"
	}
	srv, err := dovecottest.Start(ctx, dovecottest.Options{Dir: openDir(t), MailSettings: settings, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, store: store, srv: srv, want: map[string]map[string][]byte{}}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("dovecot log:\n%s", srv.Log())
		}
	})
	return e
}

// newAgingStorage mounts tierfs over the tiers in dir with the test
// rules, mail aging to slow after 30 days, and no periodic mover passes
// (the tests run them with tierfs migrate).
func newAgingStorage(t *testing.T, dir string, owner dovecottest.Account) *dovecottest.Storage {
	t.Helper()
	rules := slices.Clone(dovecottest.DefaultRules)
	for i, r := range rules {
		if r.Match == "mail/**" {
			rules[i].DemoteAfter, rules[i].DemoteTo = "30d", dovecottest.TierSlow
		}
	}
	store, err := dovecottest.NewStorage(t.Context(), dovecottest.StorageOptions{
		Kind: dovecottest.KindTierfs, Dir: dir, TierfsBin: tierfs.Path, Owner: owner,
		Rules: rules, ExtraConfig: "[mover]\ninterval = \"0s\"\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close storage: %v", err)
		}
		if t.Failed() {
			t.Logf("tierfs log:\n%s", store.Log())
		}
	})
	return store
}

// deliver sends one new message to user over LMTP and records it.
func (e *env) deliver(user string, size int) {
	n := e.seq.Add(1)
	msg := dovecottest.NewMessage(dovecottest.MessageSpec{
		ID: fmt.Sprintf("%d.%s@mover.invalid", n, user), From: "sender@example.net", To: user, BodySize: size, Seed: uint64(n),
	})
	l, err := dovecottest.DialLMTP(e.ctx, e.srv.LMTPAddr)
	if err != nil {
		e.t.Errorf("LMTP: %v", err)
		return
	}
	defer l.Close()
	if err := l.Deliver("sender@example.net", []string{user}, msg.Bytes); err != nil {
		e.t.Errorf("deliver to %s: %v", user, err)
		return
	}
	e.mu.Lock()
	if e.want[user] == nil {
		e.want[user] = map[string][]byte{}
	}
	e.want[user][msg.ID] = msg.Bytes
	e.mu.Unlock()
}

// age sets the mtime of every message file under mail/ 40 days back,
// through the mount, and returns their paths inside the mount.
func (e *env) age(format string) []string {
	var out []string
	old := time.Now().Add(-40 * 24 * time.Hour)
	root := filepath.Join(e.store.Root, "mail")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !dovecottest.IsMessageFile(format, p) {
			return err
		}
		rel, _ := filepath.Rel(e.store.Root, p)
		out = append(out, rel)
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		e.t.Fatalf("age mail: %v", err)
	}
	return out
}

// report is the part of tierfs migrate --json the test reads.
type report struct {
	Files   int64            `json:"files"`
	Bytes   int64            `json:"bytes"`
	Skipped map[string]int64 `json:"skipped"`
	Failed  int64            `json:"failed"`
}

func (e *env) migrate() report {
	e.t.Helper()
	out, err := e.store.Tierfs(e.ctx, "migrate", "--json", e.store.Root)
	var r report
	if err != nil || json.Unmarshal(out, &r) != nil {
		e.t.Fatalf("tierfs migrate: %v\n%s", err, out)
	}
	return r
}

// oldMail lists the message files older than 30 days in tier's own
// mail/ directory.
func (e *env) oldMail(format, tier string) []string {
	var out []string
	root := e.store.Tiers.Dir(tier)
	limit := time.Now().Add(-30 * 24 * time.Hour)
	filepath.WalkDir(filepath.Join(root, "mail"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !dovecottest.IsMessageFile(format, p) {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(limit) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// holders lists the tiers whose own directory holds rel.
func (e *env) holders(rel string) []string {
	var out []string
	for _, name := range e.store.Tiers.Names() {
		if _, err := os.Lstat(filepath.Join(e.store.Tiers.Dir(name), rel)); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// checkIndexesOnFast fails for any index file on the slow tier and
// unless the index files are on fast.
func (e *env) checkIndexesOnFast() {
	found := 0
	for _, tier := range []string{dovecottest.TierFast, dovecottest.TierSlow} {
		root := e.store.Tiers.Dir(tier)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), "dovecot.") || strings.Contains(p, "/.tierfs") {
				return err
			}
			if tier == dovecottest.TierSlow {
				e.t.Errorf("index file %s is on the slow tier", p)
			} else {
				found++
			}
			return nil
		})
	}
	if found == 0 {
		e.t.Error("premise: no dovecot.* index file on the fast tier")
	}
}

// readAllAndStop checks every user's whole mailbox over IMAP, stops
// Dovecot and fails on any problem in its log.
func (e *env) readAllAndStop() {
	for _, u := range users {
		c := e.login(u)
		e.checkMailbox(c, u.Name, true)
		c.Close()
	}
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("stop dovecot: %v", err)
	}
	for _, line := range e.srv.LogProblems() {
		e.t.Errorf("dovecot log: %s", line)
	}
}

func (e *env) login(u dovecottest.User) *imapclient.Client {
	c, err := dovecottest.DialIMAP(e.srv.IMAPAddr, u.Name, u.Password, nil)
	if err != nil {
		e.t.Fatalf("IMAP login %s: %v", u.Name, err)
	}
	return c
}

// checkMailbox fetches INBOX and compares every message with what was
// delivered; complete also requires every delivered message present.
func (e *env) checkMailbox(c *imapclient.Client, user string, complete bool) {
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		e.t.Errorf("%s: SELECT: %v", user, err)
		return
	}
	var got []*imapclient.FetchMessageBuffer
	if sel.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, 0)
		section := &imap.FetchItemBodySection{Peek: true}
		got, err = c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			e.t.Errorf("%s: FETCH: %v", user, err)
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	for _, m := range got {
		var body []byte
		for _, b := range m.BodySection {
			body = b.Bytes
		}
		id := messageID(body)
		want, ok := e.want[user][id]
		if !ok {
			continue // delivered but not yet recorded
		}
		seen[id] = true
		if !bytes.HasSuffix(body, want) {
			e.t.Errorf("%s: UID %d (%s): %d bytes differ from the %d delivered", user, m.UID, id, len(body), len(want))
		}
	}
	if complete && len(seen) != len(e.want[user]) {
		e.t.Errorf("%s: %d of %d delivered messages over IMAP", user, len(seen), len(e.want[user]))
	}
}

func messageID(msg []byte) string {
	hdr, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
			return strings.Trim(v, "<>")
		}
	}
	return ""
}
