package dovecottest

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPTimeout bounds every wait for the server's next bytes, so a hung
// server fails a test instead of hanging it past its cleanup.
const IMAPTimeout = 2 * time.Minute

// DialIMAP connects to addr without TLS and logs in.
func DialIMAP(addr, user, password string, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("imap dial %s: %w", addr, err)
	}
	c := imapclient.New(deadlineConn{conn}, opts)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap greeting from %s: %w", addr, err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login %s: %w", user, err)
	}
	return c, nil
}

// deadlineConn gives every Read and Write a fresh deadline.
type deadlineConn struct{ net.Conn }

func (c deadlineConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(IMAPTimeout))
	return c.Conn.Read(b)
}

func (c deadlineConn) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(IMAPTimeout))
	return c.Conn.Write(b)
}

// StoreFlags adds flags to the messages of set in the selected mailbox
// and fails t if the server refuses.
func StoreFlags(t testing.TB, c *imapclient.Client, set imap.NumSet, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("STORE %v: %v", flags, err)
	}
}

// AllSeqs is the sequence set 1:*.
func AllSeqs() imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(1, 0)
	return s
}

// FlagString is a canonical form of a flag list: lower case, sorted,
// without \Recent (which is per session, not part of what persists).
func FlagString(flags []imap.Flag) string {
	var s []string
	for _, f := range flags {
		if f != flagRecent {
			s = append(s, strings.ToLower(string(f)))
		}
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// flagRecent is the server's per-session flag (IMAP4rev1).
const flagRecent imap.Flag = `\Recent`
