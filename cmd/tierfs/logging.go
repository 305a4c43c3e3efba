package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Where the daemon logs:
//
//   - --log-file FILE (or -o log_file=FILE from fstab): appended to FILE,
//     reopened on SIGHUP so that logrotate can move it away;
//   - otherwise in the foreground: standard error (under systemd that is
//     the journal, which adds its own timestamps, so slog's are left out);
//   - otherwise when daemonized (mount(8), fstab): syslog, facility
//     daemon, ident "tierfs" (the journal on a systemd host). Without a
//     syslog socket the logs are discarded and the mount says so before
//     it detaches.

// logFormat is how records are written.
type logFormat string

const (
	logText logFormat = "text"
	logJSON logFormat = "json"
)

func parseLogFormat(s string) (logFormat, error) {
	switch logFormat(s) {
	case "", logText:
		return logText, nil
	case logJSON:
		return logJSON, nil
	}
	return "", fmt.Errorf("%q is not a log format (want text or json)", s)
}

// syslogSocket is where syslog.New connects on Linux.
const syslogSocket = "/dev/log"

// syslogAvailable reports whether a syslog daemon (or journald) listens.
func syslogAvailable() bool {
	for _, network := range []string{"unixgram", "unix"} {
		if c, err := net.Dial(network, syslogSocket); err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// logDest picks the destination described above; close releases it.
type logDest struct {
	w          io.Writer
	reopen     func() error // nil unless logging to a file
	takeStderr func() error // nil unless logging to a file; see reopenFile.takeStderr
	close      func()
	noTime     bool // the destination timestamps records itself
}

func openLogDest(file string, daemonized bool) (*logDest, error) {
	switch {
	case file != "":
		f, err := openLogFile(file)
		if err != nil {
			return nil, err
		}
		return &logDest{w: f, reopen: f.reopen, takeStderr: f.takeStderr, close: f.close}, nil
	case !daemonized:
		return &logDest{w: os.Stderr, close: func() {}, noTime: os.Getenv("JOURNAL_STREAM") != ""}, nil
	}
	sw, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "tierfs")
	if err != nil {
		return &logDest{w: io.Discard, close: func() {}}, nil
	}
	return &logDest{w: syslogWriter{sw}, close: func() { sw.Close() }, noTime: true}, nil
}

// newLogger builds the daemon's logger on dest.
func newLogger(dest *logDest, format logFormat) *slog.Logger {
	opts := &slog.HandlerOptions{}
	if dest.noTime {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if format == logJSON {
		return slog.New(slog.NewJSONHandler(dest.w, opts))
	}
	return slog.New(slog.NewTextHandler(dest.w, opts))
}

// stdLogger is a log.Logger on dest, for go-fuse's debug trace (which
// otherwise goes to standard error, /dev/null in a daemon).
func (d *logDest) stdLogger() *log.Logger {
	flags := log.LstdFlags | log.Lmicroseconds
	if d.noTime {
		flags = 0
	}
	return log.New(d.w, "", flags)
}

// reopenFile is a log file that can be reopened after rotation.
type reopenFile struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	stderr bool // standard error follows the file
}

func openLogFile(path string) (*reopenFile, error) {
	r := &reopenFile{path: path}
	if err := r.reopen(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reopenFile) reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stderr {
		if err := dupStderr(f); err != nil {
			f.Close()
			return err
		}
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f = f
	return nil
}

// takeStderr makes standard error the log file, now and after every
// reopen, so that what the Go runtime writes there (a fatal error, a
// data race report) reaches the log of a daemon whose standard error
// would otherwise be /dev/null.
func (r *reopenFile) takeStderr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stderr = true
	return dupStderr(r.f)
}

func dupStderr(f *os.File) error {
	if err := unix.Dup3(int(f.Fd()), unix.Stderr, 0); err != nil {
		return fmt.Errorf("log file: standard error: %w", err)
	}
	return nil
}

func (r *reopenFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Write(p)
}

func (r *reopenFile) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.Close()
}

// syslogWriter sends each record (slog writes one per call) with the
// syslog priority of its level.
type syslogWriter struct{ w *syslog.Writer }

func (s syslogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	var err error
	switch recordLevel(p) {
	case slog.LevelError:
		err = s.w.Err(msg)
	case slog.LevelWarn:
		err = s.w.Warning(msg)
	case slog.LevelDebug:
		err = s.w.Debug(msg)
	default:
		err = s.w.Info(msg)
	}
	return len(p), err
}

// recordLevel reads the level back from a text or JSON record written
// without a time, so the level is the first field.
func recordLevel(p []byte) slog.Level {
	for _, l := range []slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelDebug} {
		if bytes.HasPrefix(p, []byte("level="+l.String()+" ")) || bytes.HasPrefix(p, []byte(`{"level":"`+l.String()+`"`)) {
			return l
		}
	}
	return slog.LevelInfo
}
