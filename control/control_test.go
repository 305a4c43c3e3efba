package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/fs"
)

func TestEscapePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "-"},
		{"/srv/mail", "srv-mail"},
		{"/srv/mail/", "srv-mail"},
		{"/srv//mail", "srv-mail"},
		{"/srv/mail-2", `srv-mail\x2d2`},
		{"/srv/my mail", `srv-my\x20mail`},
		{"/srv/.hidden", "srv-.hidden"},
		{"/.hidden", `\x2ehidden`},
		{"/a_b:c", "a_b:c"},
		{"/é", `\xc3\xa9`},
	}
	for _, tt := range tests {
		if got := EscapePath(tt.in); got != tt.want {
			t.Errorf("EscapePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Distinct mount points must get distinct names.
	if EscapePath("/a-b") == EscapePath("/a/b") {
		t.Error("/a-b and /a/b escape to the same name")
	}
}

func TestSocketPath(t *testing.T) {
	if got := SocketPath("/run/tierfs", "/srv/mail"); got != "/run/tierfs/srv-mail.sock" {
		t.Errorf("SocketPath = %q", got)
	}
	long := "/" + strings.Repeat("x", 200)
	p := SocketPath("/run/tierfs", long)
	if len(p) > maxSocketPath || !strings.HasPrefix(p, "/run/tierfs/h-") {
		t.Errorf("SocketPath(long) = %q (%d bytes)", p, len(p))
	}
	if p == SocketPath("/run/tierfs", long+"y") {
		t.Error("two long mount points share a socket")
	}
	if p != SocketPath("/run/tierfs", long+"/") {
		t.Error("a trailing slash changes the socket of a long mount point")
	}
}

// shortDir returns a temporary directory with a path short enough for
// socket addresses.
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestServerRoundTrip(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", "m.sock")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want socket 0600", fi.Mode())
	}
	want := StatusReport{Mountpoint: "/srv/mail", Config: "/etc/t.toml", PID: 42,
		Status: fs.Status{Tiers: []fs.TierStatus{{Name: "fast", Up: true, Bytes: 10}}, Requests: map[string]uint64{"CREATE": 3}}}
	s.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, want) })
	s.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusUnprocessableEntity, errors.New("t.toml: rule[2].tier: bad"))
	})
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()

	c := NewClient(path)
	got, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Mountpoint != want.Mountpoint || got.PID != 42 || len(got.Tiers) != 1 || got.Tiers[0].Name != "fast" ||
		got.Requests["CREATE"] != 3 || got.Mover != nil {
		t.Errorf("Status = %+v, want %+v", got, want)
	}
	if _, err := c.Reload(context.Background()); err == nil || err.Error() != "t.toml: rule[2].tier: bad" {
		t.Errorf("Reload error = %v, want the server's message", err)
	}
	if err := c.Do(context.Background(), "POST", "/migrate", nil, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unregistered handler: err = %v, want 404", err)
	}

	// A second server on a live socket is refused.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Listen: err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Status after Close: err = %v, want ErrNoDaemon", err)
	}
}

func TestListenReplacesStale(t *testing.T) {
	path := filepath.Join(shortDir(t), "m.sock")
	// A socket nobody listens on any more, as a killed daemon leaves it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s.Close()

	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: err = %v", err)
	}
}

func ExampleSocketPath() {
	fmt.Println(SocketPath(DefaultRunDir, "/srv/mail"))
	// Output: /run/tierfs/srv-mail.sock
}
