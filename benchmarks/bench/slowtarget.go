package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// slowfsMount is one running slowfs daemon (the emulated NFS tier).
type slowfsMount struct {
	ws      *Workspace
	name    string
	backing string
	mnt     string
	sock    string
	d       *daemon
}

func newSlowfsMount(ws *Workspace, name string) *slowfsMount {
	return &slowfsMount{
		ws: ws, name: name,
		backing: filepath.Join(ws.Tmpfs, name+"-backing"),
		mnt:     filepath.Join(ws.Dir, "mnt", name),
		sock:    filepath.Join(ws.Dir, name+".sock"),
	}
}

func (s *slowfsMount) mount(ctx context.Context) error {
	if err := freshDir(s.backing); err != nil {
		return err
	}
	if err := os.MkdirAll(s.mnt, 0o755); err != nil {
		return err
	}
	argv := []string{s.ws.SlowfsBin,
		"-delay", s.ws.Opts.SlowDelay.String(),
		"-fsync-delay", s.ws.Opts.SlowDelay.String(),
		"-stats-socket", s.sock,
		"-user-xattrs-only=" + strconv.FormatBool(!s.ws.Opts.SlowAllXattrs),
		s.backing, s.mnt}
	d, err := startDaemon(ctx, s.name, s.ws.logPath(s.name), s.mnt, "fuse.slowfs", argv)
	if err != nil {
		return err
	}
	s.d = d
	return nil
}

func (s *slowfsMount) unmount() error {
	var err error
	if s.d != nil {
		err = s.d.stop()
		s.d = nil
	}
	if rmErr := os.RemoveAll(s.backing); err == nil {
		err = rmErr
	}
	return err
}

// counts asks the daemon for its per-operation counters.
func (s *slowfsMount) counts(ctx context.Context) (map[string]uint64, error) {
	if s.d == nil {
		return nil, errNotMounted
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.sock)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://slowfs/counts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s counts: %w", s.name, err)
	}
	defer resp.Body.Close()
	var m map[string]uint64
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s counts: %w", s.name, err)
	}
	return m, nil
}

// slowTarget is everything on the emulated NFS tier, without tierfs: a
// mail spool on NFS as operators run it today.
type slowTarget struct{ s *slowfsMount }

func newSlowTarget(ws *Workspace) *slowTarget {
	return &slowTarget{s: newSlowfsMount(ws, "slow")}
}

func (t *slowTarget) Name() string { return "slow" }

func (t *slowTarget) Mount(ctx context.Context) (string, error) {
	return t.s.mnt, t.s.mount(ctx)
}

// dovecotMmapDisable: Dovecot's NFS guide asks for mmap_disable=yes on
// an NFS mail spool, and that is what an operator would run.
func (t *slowTarget) dovecotMmapDisable() bool { return true }

func (t *slowTarget) Unmount() error { return t.s.unmount() }

// RequestCounts reports the delayed calls slowfs served.
func (t *slowTarget) RequestCounts(ctx context.Context) (map[string]uint64, error) {
	return t.s.counts(ctx)
}
