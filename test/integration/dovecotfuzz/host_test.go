package dovecotfuzz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// host is one Dovecot on one storage: a side has one, a cluster side
// one per tierfs host.
type host struct {
	name    string
	store   *dovecottest.Storage
	srv     *dovecottest.Server
	opts    dovecottest.Options
	clients map[string]*imapclient.Client
	// pass is the running mover pass, nil when none runs.
	pass chan passResult
	// logged is how many problems of the Dovecot log were reported.
	logged int
}

// passResult is what a `tierfs migrate --json` said.
type passResult struct {
	out []byte
	err error
}

// imap runs f with user's IMAP session, logging in first if there is
// none. A session that failed other than by the server's NO or BAD, or
// that does not answer a NOOP after a failure (go-imap closes it when
// the server refuses an APPEND's literal), is dropped, so that the next
// command logs in again.
func (h *host) imap(user string, f func(c *imapclient.Client) error) error {
	c, err := h.session(user)
	if err != nil {
		return err
	}
	err = f(c)
	h.after(user, c, err)
	return err
}

// session returns user's IMAP session, logging in first if there is
// none.
func (h *host) session(user string) (*imapclient.Client, error) {
	if c := h.clients[user]; c != nil {
		return c, nil
	}
	c, err := dovecottest.DialIMAP(h.srv.IMAPAddr, user, password(user), nil)
	if err != nil {
		return nil, err
	}
	h.clients[user] = c
	return c, nil
}

// after drops user's session c if the command's err says it is broken
// (see imap).
func (h *host) after(user string, c *imapclient.Client, err error) {
	var ie *imap.Error
	if err != nil && (!errors.As(err, &ie) || c.Noop().Wait() != nil) {
		h.logout(user)
	}
}

// logout ends user's IMAP session, if there is one.
func (h *host) logout(user string) {
	if c := h.clients[user]; c != nil {
		c.Logout().Wait()
		c.Close()
		delete(h.clients, user)
	}
}

func (h *host) closeClients() {
	for user := range h.clients {
		h.logout(user)
	}
}

// deliver sends msg to rcpts over a new LMTP session.
func (h *host) deliver(ctx context.Context, rcpts []string, msg dovecottest.Message) error {
	l, err := dovecottest.DialLMTP(ctx, h.srv.LMTPAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Deliver("sender@example.net", rcpts, msg.Bytes)
}

// stopDovecot ends the IMAP sessions and stops Dovecot.
func (h *host) stopDovecot() error {
	h.closeClients()
	return h.srv.Close()
}

// startDovecot starts Dovecot again on the same directory.
func (h *host) startDovecot(t *testing.T) {
	t.Helper()
	if err := h.srv.Restart(t.Context(), h.opts); err != nil {
		t.Fatalf("%s: start dovecot: %v", h.name, err)
	}
}

// startPass starts a mover pass in the background, after the one
// running (if any) ended.
func (h *host) startPass(t *testing.T) {
	h.joinPassChecked(t)
	ch := make(chan passResult, 1)
	h.pass = ch
	go func() {
		out, err := h.store.Tierfs(t.Context(), "migrate", "--json", h.store.Root)
		ch <- passResult{out, err}
	}()
}

// joinPass waits for the running pass, if any, and returns its result.
func (h *host) joinPass() passResult {
	if h.pass == nil {
		return passResult{}
	}
	r := <-h.pass
	h.pass = nil
	return r
}

// joinPassChecked waits for the running pass and fails t unless it ended
// with every move done or skipped.
func (h *host) joinPassChecked(t *testing.T) {
	t.Helper()
	r := h.joinPass()
	if r.out == nil && r.err == nil {
		return
	}
	var rep struct {
		Files  int64 `json:"files"`
		Failed int64 `json:"failed"`
	}
	if r.err != nil || json.Unmarshal(r.out, &rep) != nil {
		t.Errorf("%s: tierfs migrate: %v\n%s", h.name, r.err, r.out)
		return
	}
	if rep.Failed != 0 {
		t.Errorf("%s: tierfs migrate: %d moves failed\n%s", h.name, rep.Failed, r.out)
	}
}

// age sets the modification time of the message files of user that
// pick chooses 40 days back, through the mount, so that the next pass
// demotes them. It walks the user's own mail directory only: in a
// cluster, another host may serve the other users.
func (h *host) age(format, user string, pick func() bool) (int, error) {
	n := 0
	old := time.Now().Add(-40 * 24 * time.Hour)
	dir := filepath.Join(h.store.Root, "mail", policy.UserHash(user), user)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // not made yet, or Dovecot removed it meanwhile
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
