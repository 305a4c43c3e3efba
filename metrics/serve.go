package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Endpoint is a running metrics listener.
type Endpoint struct {
	ln  net.Listener
	srv *http.Server
}

// Start serves h at /metrics on network ("tcp" or "unix") and address.
// A unix socket left by a previous daemon is replaced, and the new one
// is made mode 0660 so a group (e.g. the node exporter's) can be given
// access.
func Start(network, address string, h http.Handler) (*Endpoint, error) {
	if network == "unix" {
		if err := os.MkdirAll(filepath.Dir(address), 0o755); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		if fi, err := os.Lstat(address); err == nil && fi.Mode().Type() == os.ModeSocket {
			os.Remove(address)
		}
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", address, err)
	}
	if network == "unix" {
		if err := os.Chmod(address, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	e := &Endpoint{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	// Serve returns only when the listener is closed (by Close).
	go e.srv.Serve(ln)
	return e, nil
}

// Addr returns the listening address (useful with port 0).
func (e *Endpoint) Addr() net.Addr { return e.ln.Addr() }

// Close stops the listener, waiting briefly for scrapes in flight.
func (e *Endpoint) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return e.srv.Shutdown(ctx)
}
