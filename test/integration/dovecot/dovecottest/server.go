package dovecottest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DovecotBinary is where Debian installs the Dovecot master.
const DovecotBinary = "/usr/sbin/dovecot"

// User is one login in the server's passwd-file.
type User struct {
	Name     string
	Password string
}

// Options describe a test server.
type Options struct {
	// Dir holds the configuration, base_dir, state_dir and log. It is
	// created if missing and kept by Close, so a server can be restarted
	// on the same directory and its log keeps growing. Empty means a new
	// temporary directory, removed by Close.
	Dir string
	// MailSettings is configuration text with the mail settings
	// (mail_location, mail_home, ...), normally from `tierfs dovecot-config`.
	MailSettings string
	// Users are the logins; every user's mail belongs to MailUser.
	Users []User
	// MailUser is the system account owning the mail; DefaultMailUser if
	// empty. It is created when missing.
	MailUser string
	// MmapDisable sets Dovecot's mmap_disable.
	MmapDisable bool
	// Extra is appended to dovecot.conf last.
	Extra string
	// StartTimeout bounds the wait for the listeners; 20s if zero.
	StartTimeout time.Duration
}

// Server is a running Dovecot master and its children.
type Server struct {
	IMAPAddr   string // host:port of plain-text IMAP
	LMTPAddr   string // host:port of LMTP
	ConfigPath string // dovecot.conf, for doveadm -c
	LogPath    string // the one log file every Dovecot process writes
	Account    Account

	dir     string
	tempDir bool
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	output  bytes.Buffer
}

// Start writes a configuration and starts Dovecot in the foreground as a
// child process, returning once its IMAP and LMTP listeners accept
// connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if _, err := os.Stat(DovecotBinary); err != nil {
		return nil, fmt.Errorf("dovecot not installed: %w", err)
	}
	name := opts.MailUser
	if name == "" {
		name = DefaultMailUser
	}
	acct, err := EnsureMailUser(ctx, name)
	if err != nil {
		return nil, err
	}
	s := &Server{Account: acct, dir: opts.Dir, exited: make(chan struct{})}
	if s.dir == "" {
		// Short paths: Dovecot's unix sockets live under base_dir and
		// sun_path has only 108 bytes.
		if s.dir, err = os.MkdirTemp("", "dovecottest-"); err != nil {
			return nil, fmt.Errorf("dovecot dir: %w", err)
		}
		s.tempDir = true
	}
	if err := s.start(ctx, opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// errPortTaken is a start that failed because a port freePorts picked
// was taken before Dovecot bound it.
var errPortTaken = errors.New("a listening port was taken meanwhile")

// start starts Dovecot on new ports, and on others again, up to twice,
// if another process took one of them first: freePorts releases them
// before Dovecot binds them, and a busy machine's outgoing connections
// draw their local ports from the same range.
func (s *Server) start(ctx context.Context, opts Options) error {
	for attempt := 1; ; attempt++ {
		err := s.startOnce(ctx, opts)
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return err
		}
		s.exited = make(chan struct{})
		s.waitErr = nil
		s.output.Reset()
	}
}

func (s *Server) startOnce(ctx context.Context, opts Options) error {
	// Dovecot's auth and login processes run unprivileged and must reach
	// the passwd-file and their sockets.
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("dovecot dir: %w", err)
	}
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("dovecot dir: %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.IMAPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	s.LMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	s.LogPath = filepath.Join(s.dir, "dovecot.log")
	d := confData{
		BaseDir:          filepath.Join(s.dir, "run"),
		StateDir:         filepath.Join(s.dir, "state"),
		Instance:         "dovecottest-" + filepath.Base(s.dir),
		LogPath:          s.LogPath,
		PasswdPath:       filepath.Join(s.dir, "passwd"),
		MailSettingsPath: filepath.Join(s.dir, "mail.conf"),
		UID:              s.Account.UID,
		GID:              s.Account.GID,
		IMAPPort:         ports[0],
		LMTPPort:         ports[1],
		MmapDisable:      yesNo(opts.MmapDisable),
		Extra:            opts.Extra,
	}
	for _, dir := range []string{d.BaseDir, d.StateDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("dovecot dir: %w", err)
		}
	}
	if s.ConfigPath, err = writeConfig(s.dir, d, opts.MailSettings, opts.Users, s.Account); err != nil {
		return err
	}
	// -F keeps the master in the foreground so we own it; its own
	// process group lets Close reach every child if the master hangs.
	s.cmd = exec.Command(DovecotBinary, "-F", "-c", s.ConfigPath)
	s.cmd.Stdout = &s.output
	s.cmd.Stderr = &s.output
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start dovecot: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	return s.waitListening(ctx, timeout)
}

func (s *Server) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range []string{s.IMAPAddr, s.LMTPAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.exited:
				err := fmt.Errorf("dovecot exited at start (%v): %s\nlog:\n%s", s.waitErr, s.output.String(), s.Log())
				if strings.Contains(s.output.String(), "Address already in use") {
					err = fmt.Errorf("%w: %w", errPortTaken, err)
				}
				return err
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("dovecot: %s not listening after %v\nlog:\n%s", addr, timeout, s.Log())
			}
		}
	}
	return nil
}

// Close stops Dovecot and waits until the master and all its children are
// gone, so a filesystem under it can be unmounted. A temporary Dir is
// removed; a caller's Dir is kept.
func (s *Server) Close() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		err = s.stop()
		s.cmd = nil
	}
	if s.tempDir {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = rmErr
		}
		s.tempDir = false
	}
	return err
}

func (s *Server) stop() error {
	pgid := s.cmd.Process.Pid
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	// Children (imap, lmtp, auth) may outlive the master by a moment.
	// They are in the master's process group, which only we started.
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return fmt.Errorf("dovecot: %w", s.waitErr)
	}
	return nil
}

// Restart stops Dovecot and starts it again on the same directory with
// opts (new ports); the log keeps growing.
func (s *Server) Restart(ctx context.Context, opts Options) error {
	if s.cmd != nil {
		if err := s.stop(); err != nil {
			return err
		}
	}
	s.exited = make(chan struct{})
	s.waitErr = nil
	s.output.Reset()
	return s.start(ctx, opts)
}

// Log returns the whole log file ("" if it cannot be read).
func (s *Server) Log() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// LogProblems returns the log lines that report errors, panics, fatal
// failures or corruption.
func (s *Server) LogProblems() []string {
	var bad []string
	sc := bufio.NewScanner(strings.NewReader(s.Log()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, w := range []string{"Error", "Panic", "Fatal", "corrupt"} {
			if strings.Contains(line, w) {
				bad = append(bad, line)
				break
			}
		}
	}
	return bad
}

// Doveadm runs doveadm against this server's configuration.
func (s *Server) Doveadm(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"-c", s.ConfigPath}, args...)
	cmd := exec.CommandContext(ctx, "doveadm", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// freePorts asks the kernel for n distinct free TCP ports on 127.0.0.1.
// They are released before Dovecot binds them; the window is tiny.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
