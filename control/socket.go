// Package control is the per-mount control socket: HTTP over a unix
// socket whose path is derived from the mount point, so that "tierfs
// status /srv/mail" finds the daemon serving /srv/mail without any other
// configuration. The daemon registers the handlers (status, reload, and
// later the mover's migrate); the package owns the socket's life and the
// client side.
package control

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultRunDir holds the control sockets; RunDirEnv overrides it (for
// tests and unprivileged mounts).
const (
	DefaultRunDir = "/run/tierfs"
	RunDirEnv     = "TIERFS_RUN_DIR"
)

// RunDir returns the directory of the control sockets.
func RunDir() string {
	if d := os.Getenv(RunDirEnv); d != "" {
		return d
	}
	return DefaultRunDir
}

// maxSocketPath is the usable length of sun_path (108 bytes with the NUL).
const maxSocketPath = 107

// SocketPath returns the control socket of the mount at mountpoint (an
// absolute, clean path) in dir: the mount point escaped as systemd
// escapes paths ("/srv/mail" → "srv-mail.sock"), or, when that would not
// fit in a socket address, a hash of it.
func SocketPath(dir, mountpoint string) string {
	p := filepath.Join(dir, EscapePath(mountpoint)+".sock")
	if len(p) <= maxSocketPath {
		return p
	}
	sum := sha256.Sum256([]byte(filepath.Clean(mountpoint)))
	return filepath.Join(dir, "h-"+hex.EncodeToString(sum[:12])+".sock")
}

// EscapePath escapes a path as systemd-escape --path does: the slashes
// at either end are dropped, the others become "-", and bytes other than
// ASCII letters, digits, ":", "_" and a non-leading "." become \xNN. The
// root is "-". The result is a single file name that names the path
// unambiguously.
func EscapePath(p string) string {
	p = strings.Trim(filepath.Clean(p), "/")
	if p == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_',
			c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}
