package dovecottest

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// LMTPClient delivers messages over one LMTP connection.
type LMTPClient struct {
	c *smtp.Client
}

// DialLMTP connects to addr and greets the server.
func DialLMTP(ctx context.Context, addr string) (*LMTPClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lmtp dial %s: %w", addr, err)
	}
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout = time.Minute
	c.SubmissionTimeout = 2 * time.Minute
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, fmt.Errorf("lmtp LHLO: %w", err)
	}
	return &LMTPClient{c: c}, nil
}

// Deliver sends msg from from to every recipient and fails unless each
// recipient's delivery was accepted.
func (l *LMTPClient) Deliver(from string, rcpts []string, msg []byte) error {
	if err := l.c.Mail(from, nil); err != nil {
		return fmt.Errorf("lmtp MAIL FROM %s: %w", from, err)
	}
	for _, r := range rcpts {
		if err := l.c.Rcpt(r, nil); err != nil {
			l.c.Reset()
			return fmt.Errorf("lmtp RCPT TO %s: %w", r, err)
		}
	}
	w, err := l.c.Data()
	if err != nil {
		return fmt.Errorf("lmtp DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("lmtp DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("lmtp delivery to %v: %w", rcpts, err)
	}
	return nil
}

// Close says QUIT and closes the connection.
func (l *LMTPClient) Close() error {
	err := l.c.Quit()
	l.c.Close()
	return err
}
