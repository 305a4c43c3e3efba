package config

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Metrics configures the Prometheus endpoint. It is off unless Listen is
// set, because an open port on a mail server is a decision for the
// operator.
type Metrics struct {
	// Listen is "HOST:PORT" (TCP) or "unix:/ABSOLUTE/PATH" (a unix
	// socket, created mode 0660). Empty turns metrics off.
	Listen string `toml:"listen,omitempty"`
}

// UnixPrefix marks a unix socket address in Metrics.Listen.
const UnixPrefix = "unix:"

// Network splits Listen into the arguments of net.Listen.
func (m Metrics) Network() (network, address string) {
	if p, ok := strings.CutPrefix(m.Listen, UnixPrefix); ok {
		return "unix", p
	}
	return "tcp", m.Listen
}

// validateMetrics checks the [metrics] table.
func (c *Config) validateMetrics(fail failFunc) {
	l := c.Metrics.Listen
	if l == "" {
		return
	}
	if p, ok := strings.CutPrefix(l, UnixPrefix); ok {
		if !filepath.IsAbs(p) {
			fail("metrics.listen", "%q: the unix socket path must be absolute (unix:/run/tierfs/metrics.sock)", l)
		}
		return
	}
	_, port, err := net.SplitHostPort(l)
	if err != nil {
		fail("metrics.listen", "%q: want HOST:PORT or unix:/PATH (%v)", l, err)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		fail("metrics.listen", "%q: port %q is not a number from 1 to 65535", l, port)
	}
}
