package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// daemonEnv marks the re-executed daemon; its value is the descriptor
// on which it reports readiness to the waiting parent.
const daemonEnv = "TIERFS_DAEMON_READY_FD"

func isDaemonChild() bool { return os.Getenv(daemonEnv) != "" }

// daemonize re-executes tierfs in a new session with its standard
// streams on /dev/null (Go cannot fork), and waits until the child has
// mounted or failed, so that mount(8) and scripts see the real outcome.
func daemonize() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := os.StartProcess(exe, os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), daemonEnv+"=3"),
		Files: []*os.File{null, null, null, w},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	w.Close()
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	if string(msg) == "OK\n" {
		p.Release()
		return nil
	}
	p.Wait()
	if len(msg) == 0 {
		return fmt.Errorf("daemon exited before mounting")
	}
	return fmt.Errorf("%s", strings.TrimSpace(string(msg)))
}

// reportReady tells the waiting parent the mount is up (err == nil) or
// why it failed. It is a no-op after the first call.
func reportReady(err error) {
	f := os.NewFile(3, "ready")
	if f == nil {
		return
	}
	msg := "OK\n"
	if err != nil {
		msg = err.Error() + "\n"
	}
	f.WriteString(msg)
	f.Close()
	os.Unsetenv(daemonEnv)
}
