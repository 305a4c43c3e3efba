package dovecottest

import (
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// DialIMAP connects to addr without TLS and logs in.
func DialIMAP(addr, user, password string, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		return nil, fmt.Errorf("imap dial %s: %w", addr, err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login %s: %w", user, err)
	}
	return c, nil
}
