package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Client talks to one mount's control socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client of the socket at path. It does not connect.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{path: path, hc: &http.Client{Transport: tr}}
}

// ErrNoDaemon means nobody listens on the socket: the mount point is not
// served by a tierfs daemon (or one too old to have a socket).
var ErrNoDaemon = errors.New("no tierfs daemon answers")

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when out is not nil). A non-2xx answer becomes an error with
// the server's message.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(data))
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tierfs"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%s: %w", c.path, ErrNoDaemon)
		}
		return fmt.Errorf("%s: %w", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			return errors.New(eb.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// Status fetches GET /status.
func (c *Client) Status(ctx context.Context) (*StatusReport, error) {
	var r StatusReport
	if err := c.Do(ctx, http.MethodGet, "/status", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Reload asks the daemon to reread its config (POST /reload).
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	var r ReloadResult
	if err := c.Do(ctx, http.MethodPost, "/reload", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
